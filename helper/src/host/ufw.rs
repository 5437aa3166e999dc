//! ufw: whether it is active, whether a rule is already there, and adding
//! and removing tagged rules as a step records them.

use anyhow::Result;
use serde_json::{json, Value};

use crate::runner;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfwStatus {
    pub active: bool,
}

/// None when ufw is not installed. Asks `ufw status` (root); without root,
/// falls back to ufw's own config file, which says whether it starts at boot.
pub fn status() -> Option<UfwStatus> {
    which::which("ufw").ok()?;
    if let Ok(out) = runner::capture("ufw", &["status"]) {
        if out.success() {
            return Some(UfwStatus { active: out.stdout.lines().any(|l| l.trim() == "Status: active") });
        }
    }
    let conf = std::fs::read_to_string("/etc/ufw/ufw.conf").unwrap_or_default();
    Some(UfwStatus { active: conf_enabled(&conf) })
}

/// ENABLED=yes in /etc/ufw/ufw.conf.
pub fn conf_enabled(conf: &str) -> bool {
    conf.lines().any(|l| {
        let l = l.trim();
        !l.starts_with('#') && l.replace(' ', "").eq_ignore_ascii_case("ENABLED=yes")
    })
}

/// True when `ufw show added` lists RULE (its words as given to `ufw`),
/// whatever its comment; ufw prints `allow from X to any` as `allow from X`.
pub fn has_rule(show_added: &str, rule: &[&str]) -> bool {
    let want = normalise(rule.iter().copied());
    show_added.lines().filter_map(|l| l.trim().strip_prefix("ufw ")).any(|l| normalise(l.split_whitespace()) == want)
}

/// The rules `ufw show added` lists with exactly the comment TAG, each as the
/// words to give `ufw delete`: what is ours even when no journal says so.
pub fn tagged_rules(show_added: &str, tag: &str) -> Vec<Vec<String>> {
    let suffix = format!(" comment '{tag}'");
    show_added
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ufw ")?.strip_suffix(suffix.as_str()))
        .map(|rule| rule.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|words| !words.is_empty() && !words.iter().any(|w| w == "comment"))
        .collect()
}

/// RULES (each the words given to `ufw`) as owned words.
pub fn owned(rules: &[&[&str]]) -> Vec<Vec<String>> {
    rules.iter().map(|r| r.iter().map(|w| w.to_string()).collect()).collect()
}

/// Of RULES, those ufw does not have yet (ours or an identical one of the user's).
pub fn missing(rules: &[Vec<String>]) -> Result<Vec<Vec<String>>> {
    let added = runner::run("ufw", &["show", "added"])?.stdout;
    Ok(rules.iter().filter(|r| !has_rule(&added, &r.iter().map(String::as_str).collect::<Vec<_>>())).cloned().collect())
}

/// Adds those of RULES ufw lacks, with the comment TAG; returns EARLIER (a
/// step record's `ufw_added`) with them appended, for undo.
pub fn add_missing(rules: &[Vec<String>], earlier: &Value, tag: &str) -> Result<Vec<Value>> {
    let mut added: Vec<Value> = earlier.as_array().cloned().unwrap_or_default();
    for rule in missing(rules)? {
        let mut args: Vec<&str> = rule.iter().map(String::as_str).collect();
        args.extend(["comment", tag]);
        runner::run("ufw", &args)?;
        added.push(json!(rule));
    }
    Ok(added)
}

/// Deletes the rules a step record's `ufw_added` lists.
pub fn remove_added(added: &Value) -> Result<()> {
    for rule in added.as_array().into_iter().flatten() {
        let mut args = vec!["delete"];
        args.extend(rule.as_array().into_iter().flatten().filter_map(Value::as_str));
        runner::run("ufw", &args)?;
    }
    Ok(())
}

fn normalise<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words {
        if w == "comment" {
            break;
        }
        out.push(w.to_string());
    }
    if out.len() >= 2 && out[out.len() - 2] == "to" && out[out.len() - 1] == "any" {
        out.truncate(out.len() - 2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDED: &str = "Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp
ufw allow 6443/tcp comment 'floppies'
ufw allow from 10.42.0.0/16 comment 'floppies'
";

    #[test]
    fn finds_rules_whatever_their_comment() {
        assert!(has_rule(ADDED, &["allow", "6443/tcp"]));
        assert!(has_rule(ADDED, &["allow", "from", "10.42.0.0/16", "to", "any"]));
        assert!(!has_rule(ADDED, &["allow", "from", "10.43.0.0/16", "to", "any"]));
        assert!(!has_rule(ADDED, &["allow", "80/tcp"]));
        assert!(!has_rule(ADDED, &["deny", "22/tcp"]));
        assert!(!has_rule("Added user rules (see 'ufw status' for running firewall):\n(None)\n", &["allow", "22/tcp"]));
    }

    #[test]
    fn tagged_rules_are_ours_and_only_those() {
        let added = format!("{ADDED}ufw allow 80/tcp comment 'floppies-other'\nufw allow 81/tcp comment 'x floppies'\n");
        assert_eq!(tagged_rules(&added, "floppies"), vec![vec!["allow", "6443/tcp"], vec!["allow", "from", "10.42.0.0/16"]]);
        assert!(tagged_rules("Added user rules (see 'ufw status' for running firewall):\n(None)\n", "floppies").is_empty());
    }

    #[test]
    fn config_file_says_whether_ufw_is_enabled() {
        assert!(conf_enabled("# comment\nENABLED=yes\nLOGLEVEL=low\n"));
        assert!(!conf_enabled("ENABLED=no\n"));
        assert!(!conf_enabled("#ENABLED=yes\n"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn rule() -> impl Strategy<Value = Vec<String>> {
            let action = prop_oneof![Just("allow"), Just("deny"), Just("limit")];
            let port = (1u16..65535, prop_oneof![Just("tcp"), Just("udp")]).prop_map(|(p, proto)| vec![format!("{p}/{proto}")]);
            let from = (0u8..255, 0u8..255).prop_map(|(a, b)| vec!["from".to_string(), format!("10.{a}.{b}.0/24"), "to".into(), "any".into()]);
            (action, prop_oneof![port, from]).prop_map(|(a, rest)| std::iter::once(a.to_string()).chain(rest).collect())
        }

        proptest! {
            /// Each listed rule is found whatever its comment; tagged_rules returns exactly the ones with our tag.
            #[test]
            fn rules_are_found_and_ours_are_exactly_the_tagged(rules in proptest::collection::vec((rule(), prop_oneof![Just(None), Just(Some("floppies")), Just(Some("floppies-x")), Just(Some("other"))]), 0..12)) {
                let mut added = String::from("Added user rules (see 'ufw status' for running firewall):\n");
                for (r, tag) in &rules {
                    // ufw prints `allow from X to any` as `allow from X`.
                    let shown = if r.ends_with(&["to".to_string(), "any".to_string()]) { &r[..r.len() - 2] } else { &r[..] };
                    added.push_str(&format!("ufw {}{}\n", shown.join(" "), tag.map(|t| format!(" comment '{t}'")).unwrap_or_default()));
                }
                for (r, _) in &rules {
                    let words: Vec<&str> = r.iter().map(String::as_str).collect();
                    prop_assert!(has_rule(&added, &words), "{:?} not found in {}", r, added);
                }
                let ours: Vec<Vec<String>> = rules.iter().filter(|(_, t)| *t == Some("floppies")).map(|(r, _)| normalise(r.iter().map(String::as_str))).collect();
                let found: Vec<Vec<String>> = tagged_rules(&added, "floppies").iter().map(|r| normalise(r.iter().map(String::as_str))).collect();
                prop_assert_eq!(found, ours);
            }
        }
    }
}
