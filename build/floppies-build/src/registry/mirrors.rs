//! Which server answers for a registry: its own (https), or a mirror set by
//!   FLOPPIES_REGISTRY_MIRRORS="docker.io=https://mirror.example quay.io=http://127.0.0.1:5000"
//! Plain http is allowed only for loopback (localhost, 127.0.0.1, [::1]):
//! anything fetched is verified by digest, but credentials are not sent in
//! clear over a network.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

use super::reference::DOCKER_HUB;

pub const MIRRORS_ENV: &str = "FLOPPIES_REGISTRY_MIRRORS";
/// A base URL that serves `TAG/FILE` as k3s's release downloads do.
pub const K3S_RELEASE_MIRROR_ENV: &str = "FLOPPIES_K3S_RELEASE_MIRROR";
/// Where k3s's release assets are: `K3S_RELEASES/TAG/FILE`.
pub const K3S_RELEASES: &str = "https://github.com/k3s-io/k3s/releases/download";

#[derive(Debug, Default)]
pub struct Mirrors {
    by_registry: BTreeMap<String, String>,
}

impl Mirrors {
    pub fn from_env() -> Result<Mirrors> {
        match std::env::var(MIRRORS_ENV) {
            Ok(text) => Mirrors::parse(&text),
            Err(_) => Ok(Mirrors::default()),
        }
    }

    /// `REGISTRY=URL` entries separated by white space or commas.
    pub fn parse(text: &str) -> Result<Mirrors> {
        let mut by_registry = BTreeMap::new();
        for entry in text.split(|c: char| c.is_whitespace() || c == ',').filter(|e| !e.is_empty()) {
            let Some((registry, url)) = entry.split_once('=') else {
                bail!("{MIRRORS_ENV}: expected REGISTRY=URL entries, got '{entry}'");
            };
            let url = url.trim_end_matches('/');
            check_url(url).map_err(|e| anyhow::anyhow!("{MIRRORS_ENV}: {e}"))?;
            by_registry.insert(registry.to_ascii_lowercase(), url.to_string());
        }
        Ok(Mirrors { by_registry })
    }

    /// The base URL (no trailing slash) that serves `/v2/` for REGISTRY.
    pub fn endpoint(&self, registry: &str) -> String {
        if let Some(url) = self.by_registry.get(registry) {
            return url.clone();
        }
        if registry == DOCKER_HUB {
            return "https://registry-1.docker.io".to_string();
        }
        let scheme = if is_loopback(host_of(registry)) { "http" } else { "https" };
        format!("{scheme}://{registry}")
    }
}

/// URL, or its k3s release asset at FLOPPIES_K3S_RELEASE_MIRROR when that is set.
pub fn release_url(url: &str) -> Result<String> {
    match std::env::var(K3S_RELEASE_MIRROR_ENV) {
        Ok(mirror) if !mirror.is_empty() => release_url_at(url, &mirror),
        _ => Ok(url.to_string()),
    }
}

fn release_url_at(url: &str, mirror: &str) -> Result<String> {
    let mirror = mirror.trim_end_matches('/');
    check_url(mirror).map_err(|e| anyhow::anyhow!("{K3S_RELEASE_MIRROR_ENV}: {e}"))?;
    Ok(match url.strip_prefix(K3S_RELEASES).filter(|rest| rest.starts_with('/')) {
        Some(rest) => format!("{mirror}{rest}"),
        None => url.to_string(),
    })
}

/// Refuses anything but https, and http to loopback.
pub fn check_url(url: &str) -> Result<()> {
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or(rest);
        if !is_loopback(host_of(authority)) {
            bail!("'{url}': plain http is allowed only for localhost, 127.0.0.1 and [::1]; use https");
        }
    } else if !url.starts_with("https://") {
        bail!("'{url}' is not an http(s) URL");
    }
    Ok(())
}

/// `host:port` of `scheme://host:port/path`.
pub fn host_of_url(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// `host` of `host:port` (and of `[v6]:port`).
pub fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_mapping() {
        let m = Mirrors::parse("docker.io=http://127.0.0.1:5000/, quay.io=https://mirror.example/quay").unwrap();
        assert_eq!(m.endpoint("docker.io"), "http://127.0.0.1:5000");
        assert_eq!(m.endpoint("quay.io"), "https://mirror.example/quay");
        assert_eq!(m.endpoint("ghcr.io"), "https://ghcr.io");
        assert_eq!(Mirrors::default().endpoint("docker.io"), "https://registry-1.docker.io");
        assert_eq!(Mirrors::default().endpoint("localhost:5000"), "http://localhost:5000");
    }

    #[test]
    fn http_only_to_loopback() {
        assert!(Mirrors::parse("docker.io=http://10.0.0.1:5000").is_err());
        assert!(Mirrors::parse("docker.io=http://localhost.evil.example").is_err());
        assert!(Mirrors::parse("docker.io=ftp://127.0.0.1").is_err());
        assert!(Mirrors::parse("docker.io").is_err());
        assert!(Mirrors::parse("docker.io=http://[::1]:5000").is_ok());
        assert!(check_url("http://127.0.0.1:8080/k3s").is_ok());
    }

    #[test]
    fn k3s_release_mirror_replaces_only_the_release_base() {
        let asset = format!("{K3S_RELEASES}/v1.35.8%2Bk3s1/sha256sum-amd64.txt");
        assert_eq!(release_url_at(&asset, "http://127.0.0.1:8080/k3s/").unwrap(), "http://127.0.0.1:8080/k3s/v1.35.8%2Bk3s1/sha256sum-amd64.txt");
        assert_eq!(release_url_at("https://example.org/k3s", "http://127.0.0.1:1").unwrap(), "https://example.org/k3s");
        assert_eq!(release_url_at(&format!("{K3S_RELEASES}x/k3s"), "http://127.0.0.1:1").unwrap(), format!("{K3S_RELEASES}x/k3s"));
        assert!(release_url_at(&asset, "http://10.0.0.1/k3s").is_err(), "plain http only to loopback");
    }
}
