//! The ufw rule parser, on `ufw show added` listings of rules with any
//! comment: every listed rule is found whatever its comment, and the rules
//! uninstall removes by tag are exactly those whose comment is `floppies`, so
//! a customer's rule is never deleted. Then any text: no panic, and no rule
//! to delete is empty or carries a comment.
#![no_main]

use floppies::host::ufw::{has_rule, tagged_rules};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const TAG: &str = "floppies";
const ACTIONS: &[&str] = &["allow", "deny", "limit", "reject"];
const WORDS: &[&str] = &["from", "port", "proto", "tcp", "in", "on", "eth0", "6443/tcp", "80/tcp", "10.42.0.0/16", "22"];

#[derive(Arbitrary, Debug)]
enum Word {
    Known(u8),
    /// A port, address or name: ufw's words have no spaces or quotes.
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Comment {
    None,
    Ours,
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Rule {
    action: u8,
    words: Vec<Word>,
    /// Ends with `to any`, which ufw leaves out when it lists the rule.
    to_any: bool,
    comment: Comment,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Listing(Vec<Rule>),
    Text(String),
}

impl Rule {
    fn words(&self) -> Vec<String> {
        let mut out = vec![ACTIONS[self.action as usize % ACTIONS.len()].to_string()];
        for w in &self.words {
            let w = match w {
                Word::Known(i) => WORDS[*i as usize % WORDS.len()].to_string(),
                Word::Other(s) => s.chars().filter(|c| c.is_ascii_alphanumeric() || "./:_-".contains(*c)).collect(),
            };
            // Keywords only where ufw puts them: `to any` last, `comment` before the comment.
            if !w.is_empty() && !["to", "any", "comment"].contains(&w.as_str()) {
                out.push(w);
            }
        }
        if self.to_any {
            out.extend(["to".to_string(), "any".to_string()]);
        }
        out
    }

    /// What ufw prints as the comment: any printable text on the line.
    fn comment(&self) -> Option<String> {
        match &self.comment {
            Comment::None => None,
            Comment::Ours => Some(TAG.to_string()),
            Comment::Other(s) => Some(s.chars().filter(|c| !c.is_control()).collect()),
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Listing(rules) => {
            let mut added = String::from("Added user rules (see 'ufw status' for running firewall):\n");
            let mut ours = Vec::new();
            for r in &rules {
                let words = r.words();
                // ufw prints `allow from X to any` as `allow from X`.
                let shown = if r.to_any { &words[..words.len() - 2] } else { &words[..] };
                let comment = r.comment();
                added.push_str(&format!("ufw {}{}\n", shown.join(" "), comment.as_ref().map(|c| format!(" comment '{c}'")).unwrap_or_default()));
                if comment.as_deref() == Some(TAG) {
                    ours.push(shown.to_vec());
                }
            }
            for r in &rules {
                let words = r.words();
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                assert!(has_rule(&added, &words), "{words:?} not found in {added}");
            }
            assert_eq!(tagged_rules(&added, TAG), ours, "the rules tagged '{TAG}' and only those, in {added}");
        }
        Input::Text(text) => {
            for rule in tagged_rules(&text, TAG) {
                assert!(!rule.is_empty() && !rule.iter().any(|w| w == "comment"), "{rule:?} from {text:?}");
            }
            let _ = has_rule(&text, &["allow", "6443/tcp"]);
        }
    }
});
