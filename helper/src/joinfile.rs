//! The join file: what `floppies node add` writes on a server and `join FILE`
//! reads on the new machine. A secret (it holds the cluster's token), so it is
//! written mode 0600 and never printed; `Debug` hides the token.
//!
//! ```json
//! {
//!   "kind": "floppies-join",
//!   "format": 1,
//!   "role": "agent",
//!   "servers": ["https://10.0.0.10:6443"],
//!   "token": "K10<sha256 of the cluster CA>::<id>.<secret>",
//!   "bundle": { "version": "1.2.3", "build": "<payload sha256>" },
//!   "created_by": "server-1",
//!   "created_at": "1764610000",
//!   "expires_at": "1764696400"
//! }
//! ```
//! The token is k3s's own, in its secure form (k3s `pkg/clientaccess/token.go`:
//! `K10` + the hex sha256 of the CA bundle + `::` + credentials), so the new
//! node can check the CA a server presents before it trusts it. `node add`
//! writes a bootstrap token (`k3s token create`: credentials `id.secret`,
//! agents only, deleted by the cluster at `expires_at`); the form
//! `user:password` (the server token) is still read.

use serde::{Deserialize, Serialize};

pub const KIND: &str = "floppies-join";
pub const FORMAT: u64 = 1;
/// The port k3s's supervisor and API listen on.
pub const K3S_PORT: u16 = 6443;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Runs workloads; joins through a server
    Agent,
    /// Also runs the control plane and a member of embedded etcd
    Server,
}

impl NodeRole {
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Agent => "agent",
            NodeRole::Server => "server",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleId {
    pub version: String,
    /// The payload's sha256: tells two builds of one version apart.
    pub build: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinFile {
    pub kind: String,
    pub format: u64,
    pub role: NodeRole,
    pub servers: Vec<String>,
    pub token: String,
    pub bundle: BundleId,
    pub created_by: String,
    /// Seconds since the epoch, as text.
    pub created_at: String,
    /// When the cluster deletes the token (seconds since the epoch, as text);
    /// absent for a token that never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl std::fmt::Debug for JoinFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinFile")
            .field("role", &self.role)
            .field("servers", &self.servers)
            .field("token", &"<hidden>")
            .field("ca_hash", &self.ca_hash())
            .field("version", &self.bundle.version)
            .field("build", &self.bundle.build)
            .finish()
    }
}

/// The parts of a K10 token: the CA's sha256 and the credentials.
pub struct Token<'a> {
    pub ca_hash: &'a str,
    pub credentials: Credentials<'a>,
}

/// A token's credentials, in the two forms k3s parses (`parseToken`: a
/// bootstrap token first, else `user:password`).
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `[a-z0-9]{6}.[a-z0-9]{16}`, sent as a bearer token; joins agents only, and expires.
    Bootstrap { id: &'a str, secret: &'a str },
    /// The server (or agent) token's `user:password`, sent as HTTP basic auth.
    Password { user: &'a str, password: &'a str },
}

/// A kubeadm-style bootstrap token string, `[a-z0-9]{6}.[a-z0-9]{16}`.
fn bootstrap(creds: &str) -> Option<(&str, &str)> {
    let (id, secret) = creds.split_once('.')?;
    let lower_alnum = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    (lower_alnum(id, 6) && lower_alnum(secret, 16)).then_some((id, secret))
}

/// Splits a K10 token, or says what is wrong with it (never quoting it).
pub fn parse_token(token: &str) -> Result<Token<'_>, String> {
    let rest = token.strip_prefix("K10").ok_or("the token is not in k3s's secure form (it does not start with K10)")?;
    let (hash, creds) = rest.split_once("::").ok_or("the token has no '::' after its CA hash")?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err("the token's CA hash is not 64 lowercase hex digits".into());
    }
    if let Some((id, secret)) = bootstrap(creds) {
        return Ok(Token { ca_hash: hash, credentials: Credentials::Bootstrap { id, secret } });
    }
    let (user, password) = creds.split_once(':').ok_or("the token has neither a bootstrap token nor user:password after its CA hash")?;
    if user.is_empty() || password.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the token's user or password is empty, or it holds spaces".into());
    }
    Ok(Token { ca_hash: hash, credentials: Credentials::Password { user, password } })
}

/// The longest a join file's token may live: long enough to carry a file
/// through a site's approvals, short enough that a lost one stops working.
pub const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;

/// A token lifetime such as `24h`, `90m`, `7d` or `1h30m`, in seconds (one
/// minute to 30 days; never 0, which k3s takes as "never expires").
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not a duration like 24h, 90m or 7d");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    if !(60..=MAX_TTL_SECONDS).contains(&total) {
        return Err(format!("'{text}' is outside one minute to 30 days"));
    }
    Ok(total)
}

/// SECS since the epoch as `YYYY-MM-DD HH:MM` (UTC), for messages.
pub fn utc(secs: u64) -> String {
    let (year, month, day, h, m, _) = floppies_format::time::civil_utc(secs);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}")
}

/// The host and port of a server URL `https://HOST:PORT`, or what is wrong.
pub fn server_host_port(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("https://").ok_or_else(|| format!("server '{url}' is not an https:// URL"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse::<u16>().map_err(|_| format!("server '{url}' has no valid port"))?),
        _ => (rest, K3S_PORT),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("server '{url}' is not named by an IP address"));
    }
    Ok((bare.to_string(), port))
}

impl JoinFile {
    pub fn ca_hash(&self) -> &str {
        parse_token(&self.token).map(|t| t.ca_hash).unwrap_or("")
    }

    /// When the token expires, as seconds since the epoch (None: never, or unreadable).
    pub fn expires(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(|t| t.parse().ok())
    }

    /// Reads a join file's text; every problem with it, together.
    pub fn parse(text: &str) -> Result<JoinFile, Vec<String>> {
        let file: JoinFile = serde_json::from_str(text).map_err(|e| {
            vec![if e.is_eof() {
                "it is truncated: it ends before the join file does (copy it again)".to_string()
            } else {
                format!("it is not a whole join file (damaged or another kind of file): {e}")
            }]
        })?;
        let mut problems = Vec::new();
        if file.kind != KIND {
            problems.push(format!("its kind is '{}', not '{KIND}'", file.kind));
        }
        if file.format != FORMAT {
            problems.push(format!("it is join file format {}, this installer reads format {FORMAT}", file.format));
        }
        if file.servers.is_empty() {
            problems.push("it names no server".into());
        }
        problems.extend(file.servers.iter().filter_map(|s| server_host_port(s).err()));
        match parse_token(&file.token) {
            Err(e) => problems.push(e),
            Ok(t) if file.role == NodeRole::Server && matches!(t.credentials, Credentials::Bootstrap { .. }) => {
                problems.push("it is for a server but holds a bootstrap token, which joins agents only".into())
            }
            Ok(_) => {}
        }
        if file.expires_at.as_deref().is_some_and(|t| t.parse::<i64>().is_err()) {
            problems.push("its expiry is not a time (seconds since the epoch)".into());
        }
        if file.bundle.build.len() != 64 || !file.bundle.build.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push("its bundle build is not a sha256".into());
        }
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(problems)
        }
    }

    /// The file's text: one field a line, so an administrator can read who made it and for what.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("bug: a join file always serialises");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "7fb505c4b5bd2d05f7d07901563d0e480ba8e1ff22e0fa761a5b422804e4cdae";

    fn sample() -> JoinFile {
        JoinFile {
            kind: KIND.into(),
            format: FORMAT,
            role: NodeRole::Agent,
            servers: vec!["https://10.77.0.10:6443".into()],
            token: format!("K10{HASH}::server:s3cret"),
            bundle: BundleId { version: "1.2.3".into(), build: HASH.into() },
            created_by: "server".into(),
            created_at: "1764610000".into(),
            expires_at: Some("1764696400".into()),
        }
    }

    #[test]
    fn a_written_join_file_reads_back() {
        let f = sample();
        assert_eq!(JoinFile::parse(&f.to_text()).unwrap(), f);
        assert_eq!(f.ca_hash(), HASH);
    }

    #[test]
    fn debug_output_never_holds_the_token() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains(HASH), "{text}");
    }

    #[test]
    fn a_truncated_file_is_named_truncated() {
        let text = sample().to_text();
        for cut in [1, 40, text.len() / 2, text.len() - 3] {
            let problems = JoinFile::parse(&text[..cut]).unwrap_err();
            assert!(problems[0].contains("truncated"), "cut at {cut}: {problems:?}");
        }
        let problems = JoinFile::parse("GIF89a not json").unwrap_err();
        assert!(problems[0].contains("not a whole join file"), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_together_without_the_secret() {
        let mut f = sample();
        f.kind = "other".into();
        f.servers = vec!["http://10.0.0.1:6443".into(), "https://server.example:6443".into()];
        f.token = "K10abc::server:s3cret".into();
        f.bundle.build = "nope".into();
        let problems = JoinFile::parse(&f.to_text()).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("s3cret")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("not an https:// URL")));
        assert!(problems.iter().any(|p| p.contains("not named by an IP address")));
        assert!(problems.iter().any(|p| p.contains("64 lowercase hex")));
    }

    #[test]
    fn a_server_file_must_hold_the_server_token() {
        let mut f = sample();
        f.role = NodeRole::Server;
        f.expires_at = None;
        assert_eq!(JoinFile::parse(&f.to_text()).unwrap().role, NodeRole::Server);
        f.token = format!("K10{HASH}::abcdef.0123456789abcdef");
        let problems = JoinFile::parse(&f.to_text()).unwrap_err();
        assert!(problems[0].contains("bootstrap token"), "{problems:?}");
        f.role = NodeRole::Agent;
        assert!(JoinFile::parse(&f.to_text()).is_ok(), "an agent joins with either");
    }

    #[test]
    fn tokens_are_split_as_k3s_formats_them() {
        let token = format!("K10{HASH}::server:pa:ss");
        let t = parse_token(&token).unwrap();
        assert_eq!((t.ca_hash, t.credentials), (HASH, Credentials::Password { user: "server", password: "pa:ss" }));
        let token = format!("K10{HASH}::abcdef.0123456789abcdef");
        assert_eq!(parse_token(&token).unwrap().credentials, Credentials::Bootstrap { id: "abcdef", secret: "0123456789abcdef" });
        for not_bootstrap in ["ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde"] {
            assert!(parse_token(&format!("K10{HASH}::{not_bootstrap}")).is_err(), "{not_bootstrap} is neither form");
        }
        assert!(parse_token("s3cret").is_err(), "a bare password carries no CA hash");
        assert!(parse_token(&format!("K10{}::server:x", HASH.to_uppercase())).is_err(), "k3s compares lowercase hex");
        assert!(parse_token(&format!("K10{HASH}::server:")).is_err());
    }

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_764_610_000), "2025-12-01 17:26");
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00");
    }

    #[test]
    fn token_lifetimes_read_as_durations_within_bounds() {
        assert_eq!(parse_ttl("24h"), Ok(86400));
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("7d"), Ok(7 * 86400));
        assert_eq!(parse_ttl("30d"), Ok(MAX_TTL_SECONDS));
        for bad in ["", "0", "0h", "24", "h", "1y", "31d", "30s", "-1h", "99999999999999999999h"] {
            assert!(parse_ttl(bad).is_err(), "'{bad}' must be refused");
        }
    }

    #[test]
    fn the_expiry_is_optional_but_must_be_a_time() {
        let mut f = sample();
        assert_eq!(f.expires(), Some(1764696400));
        f.expires_at = None;
        let text = f.to_text();
        assert!(!text.contains("expires_at"), "{text}");
        assert_eq!(JoinFile::parse(&text).unwrap().expires(), None, "a file without expiry (an older node add) reads");
        f.expires_at = Some("tomorrow".into());
        let problems = JoinFile::parse(&f.to_text()).unwrap_err();
        assert!(problems[0].contains("expiry"), "{problems:?}");
    }

    #[test]
    fn server_urls_name_an_address_and_port() {
        assert_eq!(server_host_port("https://10.0.0.1:6443").unwrap(), ("10.0.0.1".into(), 6443));
        assert_eq!(server_host_port("https://10.0.0.1").unwrap(), ("10.0.0.1".into(), 6443));
        assert_eq!(server_host_port("https://[fd00::1]:6443/").unwrap(), ("fd00::1".into(), 6443));
        assert!(server_host_port("https://10.0.0.1:x").is_err());
    }
}
