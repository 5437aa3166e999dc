//! One single-platform OCI image, built from a small JSON spec into an OCI
//! image archive (`oci-layout`, `index.json`, blobs) that `ctr images import`
//! and k3s's images directory take: the test images made of real binaries.
//!
//! Deterministic: one uncompressed layer whose entries (every parent
//! directory too) are sorted by path with mtime 0 and uid/gid 0, no `created`
//! time in the config, blobs sorted. The same spec and files give the same
//! bytes. The config always names its os and architecture: `ctr images
//! import` silently skips an image whose config leaves them empty.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;

use crate::oci::{CONTAINERD_NAME, OCI_REF_NAME};
use crate::registry::reference::is_tagged_name;

/// What an image is made of. Paths in `from` are relative to the base
/// directory given to `build`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Every name the image is imported under, each `repo:tag`.
    pub names: Vec<String>,
    #[serde(default = "linux")]
    pub os: String,
    #[serde(default = "amd64")]
    pub architecture: String,
    pub files: Vec<File>,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Config labels and manifest annotations (say "stand-in" here).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn linux() -> String {
    "linux".into()
}
fn amd64() -> String {
    "amd64".into()
}

/// One entry of the layer: a file copied `from` the base, a file with
/// `text`, a symlink to `link`, or (none of those) a directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub path: String,
    /// Octal, as a string ("0755"); default 0644 for files, 0755 for directories.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub from: Option<Utf8PathBuf>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub uid: u64,
    #[serde(default)]
    pub gid: u64,
}

enum Body {
    Dir,
    Data(Vec<u8>),
    Link(String),
}

struct Entry {
    mode: u32,
    uid: u64,
    gid: u64,
    body: Body,
}

impl Spec {
    pub fn load(path: &Utf8Path) -> Result<Spec> {
        let text = fs::read_to_string(path).with_context(|| format!("could not read '{path}'"))?;
        serde_json::from_str(&text).with_context(|| format!("'{path}' is not an image spec"))
    }

    fn check(&self) -> Result<()> {
        if self.names.is_empty() {
            bail!("the image spec names no image");
        }
        if let Some(name) = self.names.iter().find(|n| !is_tagged_name(n)) {
            bail!("the image name '{name}' has no tag: k3s imports only repo:tag names from an archive");
        }
        if self.os.is_empty() || self.architecture.is_empty() {
            bail!("the image spec leaves os or architecture empty: ctr images import would silently skip the image");
        }
        Ok(())
    }
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn parse_mode(m: &Option<String>, default: u32) -> Result<u32> {
    match m {
        None => Ok(default),
        Some(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).with_context(|| format!("mode '{s}' is not octal")),
    }
}

/// The layer's entries by path, parents included (directories 0755).
fn entries(spec: &Spec, base: &Utf8Path) -> Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    for f in &spec.files {
        let path = f.path.trim_matches('/').to_string();
        if path.is_empty() || path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            bail!("'{}' is not a plain relative path", f.path);
        }
        let body = match (&f.from, &f.text, &f.link) {
            (Some(from), None, None) => {
                let src = base.join(from);
                Body::Data(fs::read(&src).with_context(|| format!("could not read '{src}' for '{path}'"))?)
            }
            (None, Some(text), None) => Body::Data(text.clone().into_bytes()),
            (None, None, Some(link)) => Body::Link(link.clone()),
            (None, None, None) => Body::Dir,
            _ => bail!("'{path}': give at most one of from, text and link"),
        };
        let default = if matches!(body, Body::Data(_)) { 0o644 } else { 0o755 };
        let mode = if matches!(body, Body::Link(_)) { 0o777 } else { parse_mode(&f.mode, default)? };
        let mut parent = path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            out.entry(p.to_string()).or_insert(Entry { mode: 0o755, uid: 0, gid: 0, body: Body::Dir });
            parent = p;
        }
        if out.insert(path.clone(), Entry { mode, uid: f.uid, gid: f.gid, body }).is_some_and(|e| !matches!(e.body, Body::Dir)) {
            bail!("'{path}' is listed twice");
        }
    }
    Ok(out)
}

fn layer(entries: &BTreeMap<String, Entry>) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, e) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(e.mode);
        h.set_mtime(0);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        match &e.body {
            Body::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                tar.append_data(&mut h, format!("{path}/"), &[][..])
            }
            Body::Data(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, path, &data[..])
            }
            Body::Link(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, path, target)
            }
        }
        .with_context(|| format!("could not add '{path}' to the layer"))?;
    }
    tar.into_inner().context("could not finish the layer")
}

/// Builds SPEC's image (files under BASE) into the archive OUT; prints
/// nothing, returns the manifest digest.
pub fn build(spec: &Spec, base: &Utf8Path, out: &Utf8Path) -> Result<String> {
    spec.check()?;
    let layer = layer(&entries(spec, base)?)?;
    let layer_digest = digest(&layer);
    let mut config = json!({
        "architecture": spec.architecture,
        "os": spec.os,
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    });
    let c = &mut config["config"];
    let mut set = |key: &str, v: Value| {
        if !(v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(|o| o.is_empty())) {
            c[key] = v;
        }
    };
    set("Entrypoint", json!(spec.entrypoint));
    set("Cmd", json!(spec.cmd));
    set("User", json!(spec.user));
    set("Env", json!(spec.env));
    set("WorkingDir", json!(spec.working_dir));
    set("Labels", json!(spec.labels));
    let config = serde_json::to_vec(&config)?;
    let config_digest = digest(&config);
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len() }],
    });
    if !spec.annotations.is_empty() {
        manifest["annotations"] = json!(spec.annotations);
    }
    let manifest = serde_json::to_vec(&manifest)?;
    let manifest_digest = digest(&manifest);
    let mut names = spec.names.clone();
    names.sort();
    names.dedup();
    let index_entries: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
                "annotations": { CONTAINERD_NAME: n, OCI_REF_NAME: n },
                "platform": { "architecture": spec.architecture, "os": spec.os },
            })
        })
        .collect();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index_entries,
    }))?;
    let mut blobs = vec![(layer_digest, layer), (config_digest, config), (manifest_digest.clone(), manifest)];
    blobs.sort_by(|a, b| a.0.cmp(&b.0));
    write_archive(&index, &blobs, out)?;
    Ok(manifest_digest)
}

fn write_archive(index: &[u8], blobs: &[(String, Vec<u8>)], out: &Utf8Path) -> Result<()> {
    let tmp = Utf8PathBuf::from(format!("{out}.tmp"));
    let file = fs::File::create(&tmp).with_context(|| format!("could not create '{tmp}'"))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut put = |path: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        tar.append_data(&mut h, path, data).with_context(|| format!("could not write '{path}' into '{tmp}'"))
    };
    put("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    put("index.json", index)?;
    for (d, data) in blobs {
        put(&format!("blobs/sha256/{}", d.trim_start_matches("sha256:")), data)?;
    }
    let file = tar.into_inner().context("could not finish the image archive")?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().with_context(|| format!("could not write '{tmp}'"))?;
    fs::rename(&tmp, out).with_context(|| format!("could not rename '{tmp}' to '{out}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> Utf8PathBuf {
        let d = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-image-{name}-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn spec(names: &[&str]) -> Spec {
        serde_json::from_value(json!({
            "names": names,
            "files": [
                { "path": "usr/bin/tool", "mode": "0755", "from": "tool" },
                { "path": "bin/sh", "link": "/usr/bin/tool" },
                { "path": "tmp", "mode": "1777" },
                { "path": "etc/passwd", "text": "app:x:1000:1000::/tmp:/bin/sh\n" },
            ],
            "entrypoint": ["/usr/bin/tool"],
            "user": "1000:1000",
            "annotations": { "org.opencontainers.image.description": "a test image" },
        }))
        .unwrap()
    }

    #[test]
    fn the_same_spec_gives_the_same_bytes_and_names_each_tag() {
        let dir = scratch("same");
        fs::write(dir.join("tool"), b"\x7fELF not really").unwrap();
        let s = spec(&["docker.io/x/y:2", "docker.io/x/y:1"]);
        let d1 = build(&s, &dir, &dir.join("a.tar")).unwrap();
        let d2 = build(&s, &dir, &dir.join("b.tar")).unwrap();
        assert_eq!(d1, d2);
        assert_eq!(fs::read(dir.join("a.tar")).unwrap(), fs::read(dir.join("b.tar")).unwrap());
        let names = crate::oci::image_names(&dir.join("a.tar")).unwrap();
        assert_eq!(names.iter().map(|i| i.reference.as_str()).collect::<Vec<_>>(), ["docker.io/x/y:1", "docker.io/x/y:2"]);
        assert!(names.iter().all(|i| i.digest == d1));
        // Another file's bytes give another image.
        fs::write(dir.join("tool"), b"\x7fELF another").unwrap();
        assert_ne!(build(&s, &dir, &dir.join("c.tar")).unwrap(), d1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_config_sets_platform_and_the_layer_has_parents_modes_and_links() {
        let dir = scratch("layer");
        fs::write(dir.join("tool"), b"bin").unwrap();
        let s = spec(&["docker.io/x/y:1"]);
        let e = entries(&s, &dir).unwrap();
        assert_eq!(e.keys().map(String::as_str).collect::<Vec<_>>(), ["bin", "bin/sh", "etc", "etc/passwd", "tmp", "usr", "usr/bin", "usr/bin/tool"]);
        assert_eq!(e["tmp"].mode, 0o1777);
        assert_eq!(e["usr/bin/tool"].mode, 0o755);
        assert_eq!(e["etc/passwd"].mode, 0o644);
        let bytes = layer(&e).unwrap();
        let mut tar = tar::Archive::new(&bytes[..]);
        let listed: Vec<(String, tar::EntryType, u64)> = tar
            .entries()
            .unwrap()
            .map(|x| {
                let x = x.unwrap();
                (x.path().unwrap().to_string_lossy().into_owned(), x.header().entry_type(), x.header().mtime().unwrap())
            })
            .collect();
        assert_eq!(listed[0], ("bin/".to_string(), tar::EntryType::Directory, 0));
        assert_eq!(listed[1].1, tar::EntryType::Symlink);
        assert!(listed.iter().all(|l| l.2 == 0), "mtime 0 everywhere");
        build(&s, &dir, &dir.join("a.tar")).unwrap();
        let mut ar = tar::Archive::new(fs::File::open(dir.join("a.tar")).unwrap());
        let mut config = None;
        for x in ar.entries().unwrap() {
            let mut x = x.unwrap();
            let mut text = String::new();
            if std::io::Read::read_to_string(&mut x, &mut text).is_ok() && text.contains("\"rootfs\"") {
                config = Some(serde_json::from_str::<Value>(&text).unwrap());
            }
        }
        let config = config.expect("a config blob");
        assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("linux"), Some("amd64")));
        assert_eq!(config["config"]["User"], "1000:1000");
        assert_eq!(config["config"]["Entrypoint"], json!(["/usr/bin/tool"]));
        assert!(config.get("created").is_none() && config["config"].get("Cmd").is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn untagged_names_empty_platforms_and_bad_paths_are_refused() {
        let dir = scratch("refused");
        fs::write(dir.join("tool"), b"bin").unwrap();
        let err = build(&spec(&["docker.io/x/y"]), &dir, &dir.join("a.tar")).unwrap_err().to_string();
        assert!(err.contains("has no tag"), "{err}");
        let digest_name = format!("docker.io/x/y@sha256:{}", "ab".repeat(32));
        assert!(build(&spec(&[&digest_name]), &dir, &dir.join("a.tar")).is_err());
        let mut s = spec(&["docker.io/x/y:1"]);
        s.architecture.clear();
        let err = build(&s, &dir, &dir.join("a.tar")).unwrap_err().to_string();
        assert!(err.contains("silently skip"), "{err}");
        let mut s = spec(&["docker.io/x/y:1"]);
        s.files[0].path = "usr/../etc/x".into();
        assert!(build(&s, &dir, &dir.join("a.tar")).unwrap_err().to_string().contains("plain relative path"));
        assert!(!dir.join("a.tar").exists(), "nothing written for a refused spec");
        fs::remove_dir_all(&dir).unwrap();
    }
}
