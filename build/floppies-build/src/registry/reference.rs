//! Image references, normalised the way docker and containerd do:
//! `minio` is `docker.io/library/minio:latest`.

use anyhow::{bail, Result};
use std::fmt;

pub const DOCKER_HUB: &str = "docker.io";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `quay.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `library/alpine`, `minio/minio`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference> {
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (text, None),
        };
        if let Some(d) = &digest {
            check_digest(d).map_err(|e| anyhow::anyhow!("'{text}': {e}"))?;
        }
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_string())),
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => (first.to_string(), path.to_string()),
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" { DOCKER_HUB.to_string() } else { registry };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') { format!("library/{repository}") } else { repository };
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c);
        if repository.is_empty() || !repository.chars().all(valid) || repository.starts_with('/') || repository.ends_with('/') || repository.contains("//") {
            bail!("'{text}' is not an image reference (expected [registry/]repository[:tag][@sha256:hex])");
        }
        if tag.as_deref().is_some_and(|t| t.is_empty() || t.len() > 128 || !t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))) {
            bail!("'{text}': the tag is not valid");
        }
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_string()) } else { tag };
        Ok(Reference { registry, repository, tag, digest })
    }

    /// `registry/repository`, the part before the tag.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name containerd imports an image as: `registry/repository:tag`,
    /// or `registry/repository@digest` when there is no tag.
    pub fn image_name(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{t}", self.name()),
            (None, Some(d)) => format!("{}@{d}", self.name()),
            (None, None) => self.name(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// True when k3s can import an image under NAME: k3s parses every name an
/// archive carries as a tagged reference and fails the archive's retag and
/// content labelling on one that is not (a bare `repo` or a `repo@digest`);
/// it adds `repo@digest` itself. The tag must be written out, as k3s does
/// not default it to `latest`.
pub fn is_tagged_name(name: &str) -> bool {
    let rest = name.split_once('@').map_or(name, |(r, _)| r);
    let last = rest.rsplit('/').next().unwrap_or(rest);
    last.contains(':') && Reference::parse(name).is_ok()
}

/// A `sha256:<64 lowercase hex>` digest; the only algorithm the build accepts.
pub fn check_digest(d: &str) -> Result<&str> {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) => Ok(hex),
        _ => bail!("'{d}' is not a sha256 digest (sha256: and 64 lowercase hex digits)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_defaults() {
        let r = Reference::parse("alpine").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), ("docker.io", "library/alpine", Some("latest")));
        assert_eq!(r.image_name(), "docker.io/library/alpine:latest");
        let r = Reference::parse("y4m4/s3www:v0.9.0").unwrap();
        assert_eq!(r.to_string(), "docker.io/y4m4/s3www:v0.9.0");
        let r = Reference::parse("index.docker.io/library/busybox:1").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:1");
        assert_eq!(Reference::parse("docker.io/busybox").unwrap().repository, "library/busybox");
    }

    #[test]
    fn registries_ports_tags_and_digests() {
        let r = Reference::parse("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("quay.io", "minio/minio"));
        assert_eq!(r.tag.as_deref(), Some("RELEASE.2025-09-07T16-13-09Z"));
        let r = Reference::parse(&format!("127.0.0.1:5000/a/b:1@{D}")).unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref(), r.digest.as_deref()), ("127.0.0.1:5000", "a/b", Some("1"), Some(D)));
        let r = Reference::parse(&format!("localhost/x@{D}")).unwrap();
        assert_eq!((r.registry.as_str(), r.tag.as_deref()), ("localhost", None));
        assert_eq!(r.image_name(), format!("localhost/x@{D}"));
    }

    #[test]
    fn only_names_with_a_tag_can_be_imported_by_k3s() {
        for good in ["docker.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "127.0.0.1:5000/a/b:1", &format!("quay.io/a:1@{D}")] {
            assert!(is_tagged_name(good), "{good}");
        }
        for bad in ["docker.io/library/busybox", "127.0.0.1:5000/a/b", &format!("docker.io/minio/minio@{D}"), "docker.io/A:1"] {
            assert!(!is_tagged_name(bad), "{bad}");
        }
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in ["", "UPPER/case", "x@sha256:abc", "x@md5:0123", "a:", "a//b", "quay.io/"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
