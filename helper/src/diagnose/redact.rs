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
    literals: Vec<String>,
    rules: Vec<Rule>,
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

impl Redactor {
    pub fn new(literals: impl IntoIterator<Item = String>) -> Redactor {
        let mut literals: Vec<String> = literals.into_iter().map(|s| s.trim().to_string()).filter(|s| s.len() >= MIN_LITERAL).collect();
        // Longest first, so a secret that contains another is removed whole.
        literals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        literals.dedup();
        let rule = |pattern: &str, with| Rule { re: Regex::new(pattern).expect("bug: a redaction pattern does not compile"), with };
        let rules = vec![
            rule(
                r"(?s)-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
                |c| format!("-----BEGIN {}PRIVATE KEY----- {MARK} -----END {}PRIVATE KEY-----", &c[1], &c[1]),
            ),
            rule(r"K10[0-9a-f]{32,}::[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+", |_| MARK.to_string()),
            rule(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", |_| MARK.to_string()),
            rule(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)@", |c| format!("{}{MARK}@", &c[1])),
            // JSON env entries: {"name": "X_PASSWORD", "value": "..."}.
            rule(
                r#"(?i)("name"\s*:\s*"[^"]*(?:pass|secret|token|key|credential)[^"]*"\s*,\s*"value"\s*:\s*)("(?:[^"\\]|\\.)*")"#,
                |c| format!("{}\"{MARK}\"", &c[1]),
            ),
            // KEY=value and key: value (YAML, JSON, env files, command lines) under secret-looking names.
            rule(
                r#"(?im)((?:^|[\s{,;"'])"?[A-Za-z0-9_.-]*(?:password|passwd|secret|token|private[_-]?key|access[_-]?key|client-key-data|client-certificate-data|credential)[A-Za-z0-9_.-]*"?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;}"']+)"#,
                keep_name_drop_value,
            ),
        ];
        Redactor { literals, rules }
    }

    /// The redacted text and the number of replacements.
    pub fn redact(&self, text: &str) -> (String, usize) {
        let mut out = text.to_string();
        let mut count = 0;
        for lit in &self.literals {
            let n = out.matches(lit.as_str()).count();
            if n > 0 {
                out = out.replace(lit.as_str(), MARK);
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
        let (out, n) = redact_data_blocks(&out);
        (out, count + n)
    }
}

/// Secret data in YAML: every `key: value` line indented below a `data:` or
/// `stringData:` line. (JSON data objects are caught by the generic rules only
/// when their keys look secret, so JSON `"data": {...}` objects are cleared here too.)
fn redact_data_blocks(text: &str) -> (String, usize) {
    let json_data = Regex::new(r#"("(?:data|stringData)"\s*:\s*\{)([^{}]*)(\})"#).expect("bug: pattern");
    let json_value = Regex::new(r#"("(?:[^"\\]|\\.)*"\s*:\s*)"(?:[^"\\]|\\.)*""#).expect("bug: pattern");
    let mut count = 0;
    let text = json_data.replace_all(text, |c: &Captures| {
        let inner = json_value.replace_all(&c[2], |v: &Captures| {
            count += 1;
            format!("{}\"{MARK}\"", &v[1])
        });
        format!("{}{}{}", &c[1], inner, &c[3])
    });
    let mut out = Vec::new();
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some(depth) = block {
            if !trimmed.is_empty() && indent > depth {
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
            block = Some(indent);
        }
        out.push(line.to_string());
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    (joined, count)
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
        let json = format!("{{\"kind\": \"Secret\", \"stringData\": {{\"tls.crt\": \"{CANARY}\", \"user\": \"{CANARY}\"}}, \"metadata\": {{\"name\": \"y\"}}}}");
        let (out, _) = clean(&r, &json);
        assert!(out.contains("\"name\": \"y\""));
    }

    #[test]
    fn pem_keys_aws_keys_and_k3s_tokens() {
        let r = Redactor::new(Vec::<String>::new());
        let pem = format!("-----BEGIN EC PRIVATE KEY-----\n{CANARY}\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        let (out, _) = clean(&r, &pem);
        assert!(out.contains("BEGIN CERTIFICATE"), "certificates are public and stay");
        let (out, n) = r.redact("key AKIAIOSFODNN7EXAMPLE here");
        assert_eq!((out.as_str(), n), ("key [REDACTED] here", 1));
        let token = format!("K10{}::server:{CANARY}", "ab".repeat(32));
        clean(&r, &format!("token in a log: {token}"));
    }

    #[test]
    fn settings_under_secret_names_stay() {
        let r = Redactor::new(Vec::<String>::new());
        let (out, n) = r.redact("secrets-encryption: true\nwrite-kubeconfig-mode: \"0600\"\n");
        assert_eq!(n, 0, "{out}");
    }
}
