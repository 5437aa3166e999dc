//! The redactor. A secret no rule knows, planted in any of the forms issue 16
//! names (`planted_forms`) between any lines of text, never survives; a known
//! secret (any text of 8 characters or more), as is, base64-encoded (standard
//! and URL-safe) or percent-encoded inside any text, never survives; and any
//! text gets an answer, never a panic.
#![no_main]

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use floppies::diagnose::redact::{planted_forms, Redactor};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[derive(Arbitrary, Debug)]
enum Input {
    /// A secret of [A-Za-z0-9]{12,40} (made from SEED) in form FORM.
    Planted { seed: Vec<u8>, form: u8, before: String, after: String },
    /// A known secret in one of its forms, inside any text.
    Known { secret: String, form: u8, before: String, after: String },
}

/// The redactor with no known secret, built once (its patterns take longer to compile than a redaction).
fn patterns_only() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| Redactor::new(Vec::<String>::new()))
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn percent(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fuzz_target!(|input: Input| {
    match input {
        Input::Planted { seed, form, before, after } => {
            let mut secret: String = seed.iter().take(40).map(|b| ALNUM[*b as usize % ALNUM.len()] as char).collect();
            while secret.len() < 12 {
                secret.push('q');
            }
            let forms = planted_forms(&secret);
            let text = format!("{before}\n{}\n{after}\n", forms[form as usize % forms.len()]);
            let (out, n) = patterns_only().redact(&text);
            assert!(!out.contains(&secret), "{secret} survived in:\n{out}\nfrom:\n{text}");
            assert!(n >= 1);
        }
        Input::Known { secret, form, before, after } => {
            let trimmed = secret.trim();
            let r = Redactor::new(vec![secret.clone()]);
            if trimmed.len() < 8 {
                let _ = r.redact(&format!("{before}{secret}{after}"));
                return;
            }
            let encoded = match form % 4 {
                0 => trimmed.to_string(),
                1 => STANDARD.encode(trimmed),
                2 => URL_SAFE.encode(trimmed),
                _ => percent(trimmed),
            };
            let text = format!("{before} {encoded} {after}");
            let (out, _) = r.redact(&text);
            assert!(!out.contains(&encoded), "{encoded:?} survived in:\n{out:?}\nfrom:\n{text:?}");
        }
    }
});
