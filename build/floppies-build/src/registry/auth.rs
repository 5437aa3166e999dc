//! Registry authentication: the `WWW-Authenticate` challenge of a 401, and
//! the credentials a build may be given.
//!
//! Credentials are optional (public images pull anonymously, with a token
//! where Docker Hub and quay.io ask for one). Two sources, both explicit:
//!   FLOPPIES_REGISTRY_AUTH="HOST=USER:PASSWORD [HOST=USER:PASSWORD ...]"
//!   FLOPPIES_REGISTRY_AUTH_FILE=PATH   a docker `config.json` (`auths`)
//! HOST is the registry as contacted (a mirror's host:port) or as named in
//! the reference (`docker.io`, `quay.io`).

use anyhow::{bail, Context, Result};
use base64::Engine;
use std::collections::BTreeMap;

pub const AUTH_ENV: &str = "FLOPPIES_REGISTRY_AUTH";
pub const AUTH_FILE_ENV: &str = "FLOPPIES_REGISTRY_AUTH_FILE";

#[derive(Debug, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Basic,
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: Scheme,
    /// Lower-cased names: `realm`, `service`, `scope`.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
    pub fn parse(header: &str) -> Result<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "bearer" => Scheme::Bearer,
            "basic" => Scheme::Basic,
            other => bail!("the registry asks for '{other}' authentication, which floppies-build does not speak (only Bearer and Basic)"),
        };
        let mut params = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
            let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                break;
            }
            if chars.next() != Some('=') {
                bail!("malformed WWW-Authenticate header '{header}'");
            }
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next() {
                        Some('\\') => value.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => bail!("unterminated quote in WWW-Authenticate header '{header}'"),
                    }
                }
            } else {
                value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
                value = value.trim().to_string();
            }
            params.insert(name, value);
        }
        if scheme == Scheme::Bearer && !params.contains_key("realm") {
            bail!("the registry's Bearer challenge names no token realm: '{header}'");
        }
        Ok(Challenge { scheme, params })
    }
}

/// User name and password for one registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl Login {
    /// The value of an `Authorization: Basic` header.
    pub fn basic(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// Logins by registry host.
#[derive(Debug, Default)]
pub struct Credentials {
    by_host: BTreeMap<String, Login>,
}

impl Credentials {
    /// From FLOPPIES_REGISTRY_AUTH and FLOPPIES_REGISTRY_AUTH_FILE (the former wins).
    pub fn from_env() -> Result<Credentials> {
        let mut creds = Credentials::default();
        if let Ok(path) = std::env::var(AUTH_FILE_ENV) {
            let text = std::fs::read_to_string(&path).with_context(|| format!("could not read '{path}' ({AUTH_FILE_ENV})"))?;
            creds.add_docker_config(&text).with_context(|| format!("'{path}' ({AUTH_FILE_ENV}) is not a docker config.json"))?;
        }
        if let Ok(text) = std::env::var(AUTH_ENV) {
            creds.add_list(&text)?;
        }
        Ok(creds)
    }

    /// `HOST=USER:PASSWORD` entries separated by white space.
    pub fn add_list(&mut self, text: &str) -> Result<()> {
        for entry in text.split_whitespace() {
            let parsed = entry.split_once('=').and_then(|(host, login)| Some((host, login.split_once(':')?)));
            let Some((host, (user, password))) = parsed.filter(|(h, (u, _))| !h.is_empty() && !u.is_empty()) else {
                bail!("{AUTH_ENV}: expected HOST=USER:PASSWORD entries separated by spaces, got '{}'", entry.split(':').next().unwrap_or(""));
            };
            self.by_host.insert(normalise_host(host), Login { user: user.to_string(), password: password.to_string() });
        }
        Ok(())
    }

    /// A docker `config.json`: `{"auths": {"HOST": {"auth": base64("user:pw")}}}`
    /// or with `username`/`password` fields. Credential helpers are not run.
    pub fn add_docker_config(&mut self, text: &str) -> Result<()> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        for (host, entry) in v["auths"].as_object().into_iter().flatten() {
            let login = if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
                let pair = base64::engine::general_purpose::STANDARD.decode(auth).with_context(|| format!("auths.{host}.auth is not base64"))?;
                let pair = String::from_utf8(pair).with_context(|| format!("auths.{host}.auth is not UTF-8"))?;
                let (u, p) = pair.split_once(':').with_context(|| format!("auths.{host}.auth is not user:password"))?;
                Login { user: u.to_string(), password: p.to_string() }
            } else if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
                Login { user: u.to_string(), password: p.to_string() }
            } else {
                continue;
            };
            self.by_host.insert(normalise_host(host), login);
        }
        Ok(())
    }

    /// The login for the first of `hosts` that has one.
    pub fn find(&self, hosts: &[&str]) -> Option<&Login> {
        hosts.iter().find_map(|h| self.by_host.get(&normalise_host(h)))
    }
}

/// `https://index.docker.io/v1/` (docker's key for Docker Hub) and
/// `registry-1.docker.io` are `docker.io`; a URL's scheme and path are dropped.
fn normalise_host(host: &str) -> String {
    let h = host.trim_start_matches("https://").trim_start_matches("http://");
    let h = h.split('/').next().unwrap_or(h).to_ascii_lowercase();
    match h.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_string(),
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer_challenge() {
        let c = Challenge::parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#).unwrap();
        assert_eq!(c.scheme, Scheme::Bearer);
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/alpine:pull");
    }

    #[test]
    fn quoted_commas_escapes_and_bare_values() {
        let c = Challenge::parse(r#"bearer Realm="https://quay.io/v2/auth", scope="repository:a/b:pull,push",error=insufficient_scope, x="q\"t""#).unwrap();
        assert_eq!(c.params["realm"], "https://quay.io/v2/auth");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        assert_eq!(c.params["error"], "insufficient_scope");
        assert_eq!(c.params["x"], "q\"t");
        let b = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!((b.scheme, b.params["realm"].as_str()), (Scheme::Basic, "Registry Realm"));
    }

    #[test]
    fn bad_challenges() {
        assert!(Challenge::parse("Negotiate abc").is_err());
        assert!(Challenge::parse(r#"Bearer service="x""#).is_err(), "no realm");
        assert!(Challenge::parse(r#"Bearer realm="x"#).is_err(), "unterminated");
    }

    #[test]
    fn credentials_from_list_and_docker_config() {
        let mut c = Credentials::default();
        c.add_list("127.0.0.1:5000=alice:pa:ss quay.io=bob:pw").unwrap();
        assert_eq!(c.find(&["127.0.0.1:5000"]).unwrap().password, "pa:ss");
        assert!(c.add_list("nohost").is_err());
        c.add_docker_config(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"ghcr.io":{"username":"g","password":"h"}}}"#).unwrap();
        assert_eq!(c.find(&["registry.example", "docker.io"]).unwrap(), &Login { user: "u".into(), password: "p".into() });
        assert_eq!(c.find(&["ghcr.io"]).unwrap().user, "g");
        assert!(c.find(&["other.io"]).is_none());
        assert_eq!(Login { user: "u".into(), password: "p".into() }.basic(), "Basic dTpw");
    }
}
