//! Pulls one image, pinned by digest, into the cache: the pinned manifest
//! (an index keeps only the target platform's entry), the platform manifest,
//! its config and layers. Every document and blob is hashed against the
//! digest that names it before it enters the cache. Offline, the same walk
//! reads the cache alone and names every missing piece.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::reference::{check_digest, Reference};
use super::{Client, DOCKER_LIST, OCI_INDEX};
use crate::fetch::cache::Cache;

/// An OS/architecture as OCI indexes spell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform for a bundle's ARCH (`uname -m` spelling).
    pub fn for_arch(arch: &str) -> Result<Platform> {
        let (architecture, variant) = match arch {
            "x86_64" | "amd64" => ("amd64", None),
            "aarch64" | "arm64" => ("arm64", Some("v8")),
            other => bail!("no container platform known for architecture '{other}' (x86_64 or aarch64)"),
        };
        Ok(Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(str::to_string) })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The entry of an index's `manifests` for PLATFORM: same OS and architecture,
/// and the same variant or none (an amd64 `v3` build would need a newer CPU
/// than the bundle promises, so it is not taken for plain amd64).
pub fn select<'a>(index: &'a Value, platform: &Platform) -> Option<&'a Value> {
    let entries: Vec<&Value> = index["manifests"]
        .as_array()?
        .iter()
        .filter(|m| m["platform"]["os"] == platform.os.as_str() && m["platform"]["architecture"] == platform.architecture.as_str())
        .collect();
    let variant = |m: &Value| m["platform"]["variant"].as_str().map(str::to_string);
    entries.iter().find(|m| variant(m) == platform.variant).or_else(|| entries.iter().find(|m| variant(m).is_none())).copied()
}

/// A pulled image: what an archive needs to name it and carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    /// The name containerd imports it as (`repo:tag`).
    pub name: String,
    /// The pinned (top) descriptor: an index or a manifest.
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// The platform manifest's digest (equal to `digest` when not an index).
    pub manifest: String,
    /// Every blob the archive must hold for it, top first; all are cached.
    pub blobs: Vec<String>,
}

/// Pulls REFERENCE at DIGEST for PLATFORM into CACHE (CLIENT None: offline).
pub fn pull(client: Option<&mut Client>, cache: &Cache, reference: &Reference, digest: &str, platform: &Platform) -> Result<Pulled> {
    let mut walk = Walk { client, cache, reference, missing: Vec::new() };
    let top = walk.document(digest, None, "manifest")?;
    let Some((top_bytes, top_value)) = top else { return walk.finish() };
    let media_type = media_type(&top_value);
    let mut pulled = Pulled {
        name: reference.image_name(),
        media_type: media_type.clone(),
        digest: digest.to_string(),
        size: top_bytes as u64,
        manifest: digest.to_string(),
        blobs: vec![digest.to_string()],
    };
    let manifest = if media_type == OCI_INDEX || media_type == DOCKER_LIST {
        let child = select(&top_value, platform).with_context(|| format!("{reference}@{digest} has no {platform} image"))?;
        let (child_digest, child_size) = descriptor(child)?;
        pulled.manifest = child_digest.to_string();
        pulled.blobs.push(child_digest.to_string());
        match walk.document(child_digest, Some(child_size), &format!("{platform} manifest"))? {
            Some((_, v)) => v,
            None => return walk.finish(),
        }
    } else {
        top_value
    };
    if manifest["manifests"].is_array() {
        bail!("{reference}@{}: an index inside an index is not supported", pulled.manifest);
    }
    let config = std::iter::once(&manifest["config"]);
    for (i, d) in config.chain(manifest["layers"].as_array().into_iter().flatten()).enumerate() {
        let (blob_digest, blob_size) = descriptor(d).with_context(|| format!("{reference}: manifest {} is malformed", pulled.manifest))?;
        walk.blob(blob_digest, blob_size, if i == 0 { "config" } else { "layer" })?;
        pulled.blobs.push(blob_digest.to_string());
    }
    if !walk.missing.is_empty() {
        return walk.finish();
    }
    pulled.blobs.dedup();
    Ok(pulled)
}

/// Resolves REFERENCE's tag to the digest of what it names now (for `pin`).
pub fn resolve(client: &mut Client, reference: &Reference) -> Result<String> {
    let tag = reference.tag.as_deref().context("bug: resolving a reference without a tag")?;
    let (bytes, _) = client.manifest(reference, tag)?;
    Ok(format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))))
}

struct Walk<'a> {
    client: Option<&'a mut Client>,
    cache: &'a Cache,
    reference: &'a Reference,
    missing: Vec<String>,
}

impl Walk<'_> {
    /// A manifest or index, verified and cached; None when offline and missing.
    fn document(&mut self, digest: &str, size: Option<u64>, what: &str) -> Result<Option<(usize, Value)>> {
        let hex = check_digest(digest)?;
        let what = format!("{} {what} {digest}", self.reference);
        let bytes = match (self.cache.lookup(hex)?, self.client.as_deref_mut()) {
            (Some(path), _) => std::fs::read(&path).with_context(|| format!("could not read '{path}'"))?,
            (None, None) => {
                self.missing.push(format!("{what} -> {}", self.cache.path(hex)));
                return Ok(None);
            }
            (None, Some(client)) => {
                let (bytes, _) = client.manifest(self.reference, digest).with_context(|| format!("could not fetch {what}"))?;
                self.cache.put(hex, &bytes, &what)?;
                bytes
            }
        };
        if let Some(s) = size.filter(|s| *s != bytes.len() as u64) {
            bail!("{what}: its descriptor says {s} bytes, it has {}", bytes.len());
        }
        let value = serde_json::from_slice(&bytes).with_context(|| format!("{what} is not JSON"))?;
        Ok(Some((bytes.len(), value)))
    }

    fn blob(&mut self, digest: &str, size: u64, what: &str) -> Result<()> {
        let hex = check_digest(digest)?;
        if self.cache.lookup(hex)?.is_some() {
            return Ok(());
        }
        let what = format!("{} {what} {digest}", self.reference);
        let Some(client) = self.client.as_deref_mut() else {
            self.missing.push(format!("{what} -> {}", self.cache.path(hex)));
            return Ok(());
        };
        eprintln!("fetch: {what} ({size} bytes)");
        let reference = self.reference;
        self.cache.download(hex, Some(size), &what, |from| client.blob(reference, digest, from))?;
        Ok(())
    }

    fn finish<T>(self) -> Result<T> {
        let list: String = self.missing.iter().map(|m| format!("\n    {m}")).collect();
        bail!("{}: not in the cache (offline):{list}", self.reference)
    }
}

fn media_type(v: &Value) -> String {
    match v["mediaType"].as_str() {
        Some(t) => t.to_string(),
        None if v["manifests"].is_array() => OCI_INDEX.to_string(),
        None => super::OCI_MANIFEST.to_string(),
    }
}

fn descriptor(d: &Value) -> Result<(&str, u64)> {
    match (d["digest"].as_str(), d["size"].as_u64()) {
        (Some(digest), Some(size)) => Ok((digest, size)),
        _ => bail!("a descriptor lacks its digest or size: {d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(arch: &str, variant: Option<&str>, digest: &str) -> Value {
        let mut p = json!({ "os": if arch == "unknown" { "unknown" } else { "linux" }, "architecture": arch });
        if let Some(v) = variant {
            p["variant"] = json!(v);
        }
        json!({ "mediaType": super::super::OCI_MANIFEST, "digest": digest, "size": 1, "platform": p })
    }

    #[test]
    fn selects_the_target_platform_from_an_index() {
        let index = json!({ "manifests": [
            entry("unknown", None, "att"),
            entry("arm64", Some("v8"), "arm"),
            entry("amd64", Some("v3"), "amd-v3"),
            entry("amd64", None, "amd"),
        ]});
        let pick = |arch| select(&index, &Platform::for_arch(arch).unwrap()).map(|m| m["digest"].as_str().unwrap());
        assert_eq!(pick("x86_64"), Some("amd"), "plain amd64, not the v3 build nor the attestation");
        assert_eq!(pick("aarch64"), Some("arm"));
        let only_arm = json!({ "manifests": [entry("arm64", None, "arm")] });
        assert_eq!(select(&only_arm, &Platform::for_arch("aarch64").unwrap()).unwrap()["digest"], "arm", "no variant is v8");
        assert!(select(&only_arm, &Platform::for_arch("x86_64").unwrap()).is_none());
        assert!(Platform::for_arch("riscv64").is_err());
        assert_eq!(Platform::for_arch("x86_64").unwrap().to_string(), "linux/amd64");
    }
}
