//! Every redaction rule, in one place. Applied to every file before it is
//! written into a support bundle; each replacement is counted per file.
//!
//! Known secrets (read from the host: the object store's password, k3s's
//! tokens) are removed wherever they appear; patterns catch the rest: PEM
//! private keys, kubeconfig keys and tokens, Secret data, AWS-style keys,
//! passwords in URLs, and values of keys or variables whose names look secret.

use regex::{Captures, Regex};

pub const MARK: &str = "[REDACTED]";

struct Rule {
    re: Regex,
    /// How to rewrite a match (keeps the name, drops the value).
    with: fn(&Captures) -> String,
}

pub struct Redactor {
    /// Every known secret in every form, as one alternation (longest first).
    literals: Option<Regex>,
    rules: Vec<Rule>,
    data: DataPatterns,
}

/// The patterns of `redact_data_blocks`, compiled once with the rules.
struct DataPatterns {
    json_data: Regex,
    json_value: Regex,
    escaped_data: Regex,
    escaped_value: Regex,
}

/// Literal secrets shorter than this are not searched for (they would hit ordinary text).
const MIN_LITERAL: usize = 8;
/// Values that are settings, not secrets, even under a secret-looking name.
const NOT_SECRET: &[&str] = &["true", "false", "null", "yes", "no", "\"\"", "''", "[REDACTED]", "<redacted>"];

fn keep_name_drop_value(c: &Captures) -> String {
    let value = c.get(2).map_or("", |m| m.as_str());
    if NOT_SECRET.contains(&value.to_ascii_lowercase().as_str()) {
        return c[0].to_string();
    }
    format!("{}{MARK}", &c[1])
}

/// Names whose values are secrets: in `KEY=value`, `key: value`, `"key": value` and `--key value`.
/// `pass` and `pwd` only at the end of a name (`RootPass:`, `db_pwd=`, not
/// `passed:`), `auth` only as a whole name or its last part (`auth=`,
/// `basic_auth:`, not `authority`).
const SECRET_NAME: &str = r"(?:[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token|private[_-]?key|access[_-]?key|api[_-]?key|client-key-data|client-certificate-data|credential)[A-Za-z0-9_.-]*|[A-Za-z0-9_.-]*(?:pass|pwd)|(?:[A-Za-z0-9_.-]*[_.-])?auth)";

/// The forms a known secret may take in collected text besides itself:
/// base64 (standard and URL-safe, whole, and the part that stays the same
/// wherever it sits inside a longer encoded text) and percent-encoding.
fn encoded_forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine;
    let mut forms = vec![secret.to_string(), STANDARD.encode(secret)];
    let bytes = secret.as_bytes();
    for lead in 0..3usize {
        // With LEAD bytes before it, only the 4-character groups made of the
        // secret's own bytes are fixed: skip a mixed first group, and a last group that is not complete.
        let mut shifted = vec![0u8; lead];
        shifted.extend_from_slice(bytes);
        let enc = STANDARD.encode(&shifted);
        let start = if lead > 0 { 4 } else { 0 };
        let end = 4 * (shifted.len() / 3);
        if end > start {
            forms.push(enc[start..end].to_string());
        }
    }
    let url_safe: Vec<String> = forms[1..].iter().map(|f| f.replace('+', "-").replace('/', "_")).collect();
    forms.extend(url_safe);
    forms.push(URL_SAFE.encode(secret));
    let percent: String =
        bytes.iter().map(|&b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    forms.push(percent.clone());
    forms.push(lower_escapes(&percent));
    forms.into_iter().filter(|f| f.len() >= MIN_LITERAL).collect()
}

/// `%3A` as `%3a`: both spellings are common.
fn lower_escapes(percent: &str) -> String {
    let mut out = String::with_capacity(percent.len());
    let mut left = 0u8;
    for c in percent.chars() {
        out.push(if left > 0 { c.to_ascii_lowercase() } else { c });
        left = if c == '%' { 2 } else { left.saturating_sub(1) };
    }
    out
}

impl Redactor {
    pub fn new(literals: impl IntoIterator<Item = String>) -> Redactor {
        let mut literals: Vec<String> =
            literals.into_iter().map(|s| s.trim().to_string()).filter(|s| s.len() >= MIN_LITERAL).flat_map(|s| encoded_forms(&s)).collect();
        // Longest first, so a secret that contains another is removed whole.
        literals.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        literals.dedup();
        let alternation = literals.iter().map(|l| regex::escape(l)).collect::<Vec<_>>().join("|");
        let literals =
            (!literals.is_empty()).then(|| regex::RegexBuilder::new(&alternation).size_limit(1 << 26).build().expect("bug: escaped literals do not compile"));
        let rule = |pattern: &str, with: fn(&Captures) -> String| Rule { re: Regex::new(pattern).expect("bug: a redaction pattern does not compile"), with };
        let rules = vec![
            rule(r"(?s)-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)", |c| {
                format!("-----BEGIN {}PRIVATE KEY----- {MARK} -----END {}PRIVATE KEY-----", &c[1], &c[1])
            }),
            rule(r"K10[0-9a-f]{32,}::[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+", |_| MARK.to_string()),
            rule(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", |_| MARK.to_string()),
            rule(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)@", |c| format!("{}{MARK}@", &c[1])),
            // JSON env entries: {"name": "X_PASSWORD", "value": "..."}.
            rule(r#"(?i)("name"\s*:\s*"[^"]*(?:pass|secret|token|key|credential)[^"]*"\s*,\s*"value"\s*:\s*)("(?:[^"\\]|\\.)*")"#, |c| {
                format!("{}\"{MARK}\"", &c[1])
            }),
            // HTTP authorization: `Authorization: Bearer X`, `Basic X`, and a bare `Bearer X`.
            rule(r#"(?i)(\bauthorization"?\s*[:=]\s*"?(?:(?:bearer|basic|token|digest|negotiate)\s+)?)([^\s"',;]+)"#, keep_name_drop_value),
            rule(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})", keep_name_drop_value),
            // mc's positional keys: `mc alias set ALIAS URL ACCESS SECRET`, `mc config host add ...`, `mc admin user add ALIAS ACCESS SECRET`.
            rule(r"(?i)(\bmc\b[^\n]*?\b(?:alias\s+(?:set|add)|config\s+host\s+add)\s+\S+\s+\S+\s+)(\S+)(\s+)(\S+)", |c| {
                format!("{}{MARK}{}{MARK}", &c[1], &c[3])
            }),
            rule(r"(?i)(\bmc\b[^\n]*?\badmin\s+user\s+add\s+\S+\s+)(\S+)(\s+)(\S+)", |c| format!("{}{MARK}{}{MARK}", &c[1], &c[3])),
            // Command-line flags: `--password VALUE`, `--secret-key=VALUE`.
            rule(&format!(r#"(?i)((?:^|\s)--?{SECRET_NAME}(?:=|\s+))("[^"]*"|'[^']*'|[^\s"'-][^\s]*)"#), keep_name_drop_value),
            // KEY=value and key: value (YAML, JSON, env files, banners) under secret-looking names.
            rule(&format!(r#"(?im)((?:^|[\s{{,;"'])"?{SECRET_NAME}"?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;}}"']+)"#), keep_name_drop_value),
        ];
        let pattern = |p: &str| Regex::new(p).expect("bug: a redaction pattern does not compile");
        let data = DataPatterns {
            json_data: pattern(r#"("(?:data|stringData)"\s*:\s*\{)([^{}]*)(\})"#),
            json_value: pattern(r#"("(?:[^"\\]|\\.)*"\s*:\s*)"(?:[^"\\]|\\.)*""#),
            escaped_data: pattern(r#"(\\"(?:data|stringData)\\"\s*:\s*\{)([^{}]*)(\})"#),
            escaped_value: pattern(r#"(\\"[^"]*?\\"\s*:\s*)\\"[^"]*?\\""#),
        };
        Redactor { literals, rules, data }
    }

    /// The redacted text and the number of replacements.
    pub fn redact(&self, text: &str) -> (String, usize) {
        let mut out = text.to_string();
        let mut count = 0;
        if let Some(re) = &self.literals {
            let n = re.find_iter(&out).count();
            if n > 0 {
                out = re.replace_all(&out, MARK).into_owned();
                count += n;
            }
        }
        for rule in &self.rules {
            let mut n = 0;
            let replaced = rule.re.replace_all(&out, |c: &Captures| {
                let new = (rule.with)(c);
                if new != c[0] {
                    n += 1;
                }
                new
            });
            if n > 0 {
                out = replaced.into_owned();
                count += n;
            }
        }
        let (out, n) = redact_data_blocks(&self.data, &out);
        (out, count + n)
    }
}

/// Secret data: in YAML every value indented below a `data:` or `stringData:`
/// line, block scalars (`key: |`) line by line; in JSON every value of a
/// `"data": {...}` or `"stringData": {...}` object, also when that JSON is
/// itself escaped inside a string (an annotation such as
/// last-applied-configuration in `-o json` output).
fn redact_data_blocks(p: &DataPatterns, text: &str) -> (String, usize) {
    let mut count = 0;
    let mut objects = |text: &str, outer: &Regex, inner: &Regex, mark: &str| -> String {
        outer
            .replace_all(text, |c: &Captures| {
                let values = inner.replace_all(&c[2], |v: &Captures| {
                    count += 1;
                    format!("{}{mark}", &v[1])
                });
                format!("{}{}{}", &c[1], values, &c[3])
            })
            .into_owned()
    };
    let text = objects(text, &p.json_data, &p.json_value, &format!("\"{MARK}\""));
    let text = objects(&text, &p.escaped_data, &p.escaped_value, &format!("\\\"{MARK}\\\""));
    let mut out = Vec::new();
    // (indent of the data: line, indent of its keys once seen)
    let mut block: Option<(usize, Option<usize>)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some((depth, keys)) = block.as_mut() {
            if trimmed.is_empty() {
                out.push(line.to_string());
                continue;
            }
            if indent > *depth {
                if indent > *keys.get_or_insert(indent) {
                    // A block scalar's content, or a nested value: all of it.
                    out.push(format!("{}{MARK}", &line[..indent]));
                    count += 1;
                    continue;
                }
                if let Some((key, value)) = trimmed.split_once(':') {
                    if !value.trim().is_empty() && value.trim() != MARK {
                        out.push(format!("{}{key}: {MARK}", &line[..indent]));
                        count += 1;
                        continue;
                    }
                }
                out.push(line.to_string());
                continue;
            }
            block = None;
        }
        if trimmed == "data:" || trimmed == "stringData:" {
            block = Some((indent, None));
        }
        out.push(line.to_string());
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    (joined, count)
}

/// Every form of a secret issue 16 names, with SECRET in the place of the
/// value: the unit tests, the property tests and the fuzz target (fuzz/) plant
/// secrets no rule knows in advance in each, and none may survive `redact`.
pub fn planted_forms(secret: &str) -> Vec<String> {
    vec![
        format!("RootUser: floppies-admin\nRootPass: {secret}\n"),
        format!("GET / HTTP/1.1\nAuthorization: Bearer {secret}\n"),
        format!("Authorization: Basic {secret}\n"),
        format!("curl -H 'Authorization: Bearer {secret}' http://x/"),
        format!("$ tool --password {secret} --verbose\n"),
        format!("$ tool --secret-key={secret}\n"),
        format!("{{\"apiKey\": \"{secret}\", \"name\": \"x\"}}"),
        format!("conn: host=db pwd={secret} user=app\n"),
        format!("gpg passphrase={secret}\n"),
        format!("registry auth={secret}\n"),
        format!("apiVersion: v1\nkind: Secret\nstringData:\n  config.env: |\n    MINIO_ROOT_USER=admin\n    X={secret}\n  other: |-\n    {secret}\ntype: Opaque\n"),
        format!("data:\n  tls.key: >\n    {secret}\n"),
        format!(
            "{{\"metadata\": {{\"annotations\": {{\"kubectl.kubernetes.io/last-applied-configuration\": \"{{\\\"apiVersion\\\":\\\"v1\\\",\\\"data\\\":{{\\\"rootPassword\\\":\\\"{secret}\\\"}},\\\"kind\\\":\\\"Secret\\\"}}\\n\"}}}}}}"
        ),
        format!("+ mc alias set local http://minio:9000 floppies-admin {secret}\n"),
        format!("+ mc --quiet admin user add local s3www-reader {secret}\n"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-Zx81Qp0LmW";

    fn clean(r: &Redactor, text: &str) -> (String, usize) {
        let (out, n) = r.redact(text);
        assert!(!out.contains(CANARY), "canary survived in:\n{out}");
        (out, n)
    }

    #[test]
    fn known_secrets_are_removed_wherever_they_appear() {
        let r = Redactor::new(vec![CANARY.to_string(), "short".into()]);
        let (out, n) = clean(&r, &format!("log line with {CANARY} in it, and a short word"));
        assert_eq!(n, 1);
        assert!(out.contains("short word"), "short literals are not searched");
    }

    #[test]
    fn credentials_and_env_files() {
        let r = Redactor::new(Vec::<String>::new());
        clean(&r, &format!("MINIO_ROOT_USER=floppies-admin\nMINIO_ROOT_PASSWORD={CANARY}\n"));
        let (out, _) = clean(&r, &format!("export DB_PASSWORD='{CANARY}'\nAPI_TOKEN={CANARY}\nHOME=/root\n"));
        assert!(out.contains("HOME=/root"));
        clean(&r, &format!("DATABASE_URL=postgres://app:{CANARY}@db:5432/x\n"));
        clean(&r, &format!("[{{\"name\":\"MINIO_ROOT_PASSWORD\",\"value\":\"{CANARY}\"}}]"));
    }

    #[test]
    fn kubeconfig_keys_and_tokens() {
        let r = Redactor::new(Vec::<String>::new());
        let kubeconfig = format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tCA==\n    server: https://127.0.0.1:6443\nusers:\n- name: default\n  user:\n    client-certificate-data: {CANARY}\n    client-key-data: {CANARY}\n    token: {CANARY}\n"
        );
        let (out, n) = clean(&r, &kubeconfig);
        assert_eq!(n, 3);
        assert!(out.contains("server: https://127.0.0.1:6443"));
    }

    #[test]
    fn secret_manifests_yaml_and_json() {
        let r = Redactor::new(Vec::<String>::new());
        let yaml = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  rootUser: {CANARY}\n  anything: {CANARY}\ntype: Opaque\n");
        let (out, _) = clean(&r, &yaml);
        assert!(out.contains("type: Opaque") && out.contains("name: x"));
        let json =
            format!("{{\"kind\": \"Secret\", \"stringData\": {{\"tls.crt\": \"{CANARY}\", \"user\": \"{CANARY}\"}}, \"metadata\": {{\"name\": \"y\"}}}}");
        let (out, _) = clean(&r, &json);
        assert!(out.contains("\"name\": \"y\""));
    }

    #[test]
    fn pem_keys_aws_keys_and_k3s_tokens() {
        let r = Redactor::new(Vec::<String>::new());
        let pem = format!(
            "-----BEGIN EC PRIVATE KEY-----\n{CANARY}\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        );
        let (out, _) = clean(&r, &pem);
        assert!(out.contains("BEGIN CERTIFICATE"), "certificates are public and stay");
        let (out, n) = r.redact("key AKIAIOSFODNN7EXAMPLE here");
        assert_eq!((out.as_str(), n), ("key [REDACTED] here", 1));
        let token = format!("K10{}::server:{CANARY}", "ab".repeat(32));
        clean(&r, &format!("token in a log: {token}"));
    }

    #[test]
    fn every_common_form_of_a_secret_is_redacted() {
        let r = Redactor::new(Vec::<String>::new());
        for text in planted_forms(CANARY) {
            let (out, n) = clean(&r, &text);
            assert!(n >= 1, "{out}");
        }
        let (out, _) = clean(&r, &planted_forms(CANARY)[0]);
        assert!(out.contains("RootUser: floppies-admin"), "{out}");
        let (out, _) = clean(&r, &planted_forms(CANARY)[4]);
        assert!(out.contains("--verbose"), "{out}");
    }

    /// True if any 6 bytes of SECRET can be read back from TEXT, as is or by
    /// decoding any run of base64 characters in it at any alignment.
    fn leaks(text: &str, secret: &str) -> bool {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        use base64::Engine;
        let windows: Vec<&[u8]> = secret.as_bytes().windows(6).collect();
        let hit = |bytes: &[u8]| windows.iter().any(|w| bytes.windows(6).any(|b| b == *w));
        if hit(text.as_bytes()) {
            return true;
        }
        let runs = text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/-_".contains(c)));
        runs.into_iter().any(|run| {
            (0..4.min(run.len())).any(|skip| {
                let part = &run[skip..];
                let part = &part[..part.len() / 4 * 4];
                [STANDARD_NO_PAD.decode(part), URL_SAFE_NO_PAD.decode(part)].into_iter().flatten().any(|b| hit(&b))
            })
        })
    }

    #[test]
    fn known_secrets_are_removed_in_base64_and_url_encoded_forms() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        use base64::Engine;
        let secret = "K10ab::server:Zx8?Qp/0Lm+W~x>>";
        let r = Redactor::new(vec![secret.to_string()]);
        let url = "K10ab%3A%3Aserver%3AZx8%3FQp%2F0Lm%2BW~x%3E%3E";
        let url_lower = "K10ab%3a%3aserver%3aZx8%3fQp%2f0Lm%2bW~x%3e%3e";
        let mut texts = vec![
            format!("value {}", STANDARD.encode(secret)),
            format!("u={}", URL_SAFE.encode(secret)),
            format!("GET /?t={url}"),
            format!("GET /?t={url_lower}"),
        ];
        // Inside a longer encoded text, at each of the three alignments.
        for lead in ["", "a", "ab"] {
            texts.push(format!("blob {}", STANDARD.encode(format!("{lead}TOKEN={secret}\nmore"))));
            texts.push(format!("blob {}", URL_SAFE.encode(format!("{lead}TOKEN={secret}\nmore"))));
        }
        for text in texts {
            assert!(leaks(&text, secret) || text.contains(url) || text.contains(url_lower), "the oracle sees the secret in {text}");
            let (out, n) = r.redact(&text);
            assert!(n >= 1, "nothing redacted in {text}");
            assert!(!leaks(&out, secret) && !out.contains(url) && !out.contains(url_lower), "survived: {out}");
        }
    }

    #[test]
    fn settings_under_secret_names_stay() {
        let r = Redactor::new(Vec::<String>::new());
        let (out, n) = r.redact("Preflight passed: this host can take it\ncertificate-authority-data: LS0t\nbypassed: 3\n");
        assert_eq!(n, 0, "words that only contain a secret-looking name stay: {out}");
        let (out, n) = r.redact("secrets-encryption: true\nwrite-kubeconfig-mode: \"0600\"\n");
        assert_eq!(n, 0, "{out}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            /// A secret no rule knows, planted in any of the forms, between any lines: never survives.
            #[test]
            fn a_planted_secret_never_survives(secret in "[A-Za-z0-9]{12,40}", before in "[a-zA-Z0-9 ._-]{0,30}", after in "[a-zA-Z0-9 ._-]{0,30}") {
                let r = Redactor::new(Vec::<String>::new());
                for form in planted_forms(&secret) {
                    let text = format!("{before}\n{form}\n{after}\n");
                    let (out, _) = r.redact(&text);
                    prop_assert!(!out.contains(&secret), "survived in:\n{}", out);
                }
            }

            /// A known secret, as is, base64-encoded inside any text at any alignment, or percent-encoded: never readable back.
            #[test]
            fn a_known_secret_never_survives_encoded(secret in "[A-Za-z0-9:?/+~@-][A-Za-z0-9:?/+~@ -]{6,38}[A-Za-z0-9:?/+~@-]", lead in "[a-z=]{0,5}", tail in "[a-z\n]{0,5}") {
                use base64::engine::general_purpose::{STANDARD, URL_SAFE};
                use base64::Engine;
                let r = Redactor::new(vec![secret.clone()]);
                let inner = format!("{lead}{secret}{tail}");
                let percent: String = secret.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
                for text in [format!("x {} y", STANDARD.encode(&inner)), format!("x {} y", URL_SAFE.encode(&inner)), format!("GET /?v={percent}&w=1"), format!("plain {inner} text")] {
                    let (out, _) = r.redact(&text);
                    prop_assert!(!leaks(&out, &secret) && !out.contains(&percent), "survived in: {}", out);
                }
            }
        }
    }
}
