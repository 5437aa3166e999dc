//! `manifest.json`, the first entry of every payload: what the bundle holds.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::error::{ExitCode, Failure};
use crate::header::Header;

/// Written by `floppies-build pack`; read by `--info`, `version` and install.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version of this file.
    pub schema: u32,
    pub bundle: BundleInfo,
    pub k3s: K3sInfo,
    pub artifacts: Vec<Artifact>,
    /// Only in an update file: the one build it must be installed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseRelease>,
}

/// The build an update file takes its other artifacts from: a version and
/// the payload sha256 that tells its builds apart; and the payload sha256 of
/// the full file of the new release, which the host records as its build, so
/// that it is installed as if from that file (and a later update can name it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRelease {
    pub version: String,
    pub payload_sha256: String,
    pub full_payload_sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleInfo {
    pub name: String,
    pub version: String,
    /// `prod` or `test`; a test bundle holds stand-ins and is never a release.
    pub profile: String,
    pub arch: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K3sInfo {
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Path inside the payload.
    pub path: String,
    pub role: Role,
    pub size: u64,
    pub sha256: String,
    /// Where it came from: an upstream URL, an image reference, or `stand-in: ...`.
    pub source: String,
    /// For an upstream artifact: `pinned in airgap/pins.json`, or `resolved at
    /// build time from URL` where the pin was null (see pack::provenance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Only in an update file: where the artifact's bytes come from. Absent,
    /// they are in the payload at `path`, as in every full file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// How an update file supplies one artifact of the new release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Origin {
    /// Carried whole in the payload at the artifact's path.
    Carried,
    /// The base release's artifact at `path`, unchanged (the same sha256).
    Base { path: String },
    /// Rebuilt from the base's archive at `base_path` and the blobs this file
    /// carries: the recipe (format::delta::Recipe, JSON) and the carried
    /// bytes are payload files.
    Blobs { base_path: String, recipe: String, carried: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    K3sBinary,
    K3sImages,
    AppImages,
    Chart,
    Content,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// The name containerd imports it as.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// The lowest x86-64 level (1..4) its binaries run on, from their ELF
    /// ISA-needed notes (see pack::isa); absent for other architectures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x86_64_level: Option<u8>,
    /// How its digest was pinned (app images of a production build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
}

pub const SCHEMA: u32 = 1;
pub const FILE_NAME: &str = "manifest.json";

impl Role {
    /// The name manifest.json and airgap/*.json spell it with (`k3s-binary`).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

impl Manifest {
    pub fn is_test(&self) -> bool {
        self.bundle.profile != "prod"
    }

    /// Whether this is an update file (it needs its base on the host).
    pub fn is_update(&self) -> bool {
        self.base.is_some()
    }

    /// The payload files that hold an artifact's bytes: its path, or for an
    /// update, what its origin names inside the payload.
    pub fn payload_paths(a: &Artifact) -> Vec<&str> {
        match &a.origin {
            None | Some(Origin::Carried) => vec![a.path.as_str()],
            Some(Origin::Base { .. }) => vec![],
            Some(Origin::Blobs { recipe, carried, .. }) => vec![recipe.as_str(), carried.as_str()],
        }
    }

    /// Refuses a manifest that would make us act outside the release: every
    /// artifact path must be plain and relative (`a/b`, no root, `.` or
    /// `..`), and the bundle's version, profile and arch must be the stub
    /// header's (the header is not covered by any hash; the manifest is, once
    /// the payload is verified), the version a plain name as it names a directory.
    pub fn check(&self, header: &Header) -> Result<()> {
        for a in &self.artifacts {
            check_artifact_path(&a.path).map_err(|why| bad(format!("manifest.json lists the artifact '{}': {why}", a.path)))?;
            let from_base = match &a.origin {
                Some(Origin::Base { path }) | Some(Origin::Blobs { base_path: path, .. }) => Some(path),
                _ => None,
            };
            for p in Manifest::payload_paths(a).into_iter().chain(from_base.map(String::as_str)) {
                check_artifact_path(p).map_err(|why| bad(format!("manifest.json names '{p}' for the artifact '{}': {why}", a.path)))?;
            }
            match (&a.origin, &self.base) {
                (None, Some(_)) => bail!(bad(format!("manifest.json names a base release but not where the artifact '{}' comes from", a.path))),
                (Some(_), None) => bail!(bad(format!("manifest.json gives the artifact '{}' an origin but names no base release", a.path))),
                _ => {}
            }
        }
        if let Some(base) = &self.base {
            let is_sha = |s: &str| s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit());
            if !is_plain_name(&base.version) || !is_sha(&base.payload_sha256) || !is_sha(&base.full_payload_sha256) {
                bail!(bad(format!("manifest.json names a base release '{}' ({}) that is not a version and a sha256", base.version, base.payload_sha256)));
            }
        }
        let b = &self.bundle;
        let base_version = self.base.as_ref().map(|base| base.version.clone()).unwrap_or_default();
        for (what, ours, theirs) in [
            ("version", &b.version, &header.version),
            ("profile", &b.profile, &header.profile),
            ("arch", &b.arch, &header.arch),
            ("base version", &base_version, &header.base_version),
        ] {
            if ours != theirs {
                bail!(bad(format!("the header says {what} '{theirs}' but manifest.json says '{ours}'")));
            }
        }
        if !is_plain_name(&b.version) {
            bail!(bad(format!("the bundle version '{}' is not a plain name", b.version)));
        }
        Ok(())
    }
}

fn bad(what: String) -> anyhow::Error {
    Failure::new(ExitCode::BadBundle, what).help("this bundle was not made by the floppies build, or was altered; do not install it").into()
}

/// `a/b/c` only: not empty, no leading `/`, no `.`, `..` or empty components.
fn check_artifact_path(path: &str) -> std::result::Result<(), &'static str> {
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.starts_with('/') {
        return Err("the path is absolute");
    }
    if path.contains('\0') {
        return Err("the path holds a NUL byte");
    }
    for part in path.split('/') {
        match part {
            "" | "." => return Err("the path has an empty or '.' component"),
            ".." => return Err("the path contains '..'"),
            _ => {}
        }
    }
    Ok(())
}

/// A name that is one path component and no shell or path trick: [A-Za-z0-9._+-], not `.` or `..`.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.len() <= 128 && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"._+-".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: "1.2.3-test".into(),
            profile: "test".into(),
            arch: "x86_64".into(),
            stub_size: 4096,
            helper_size: 4096,
            helper_sha256: "ab".repeat(32),
            helper_form: crate::header::HelperForm::Raw,
            helper_run_size: 4096,
            helper_from: String::new(),
            base_version: String::new(),
            payload_size: 1,
            payload_sha256: "cd".repeat(32),
        }
    }

    fn manifest(path: &str) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "schema": 1,
            "bundle": {"name": "floppies", "version": "1.2.3-test", "profile": "test", "arch": "x86_64"},
            "k3s": {"version": "v1"},
            "artifacts": [{"path": path, "role": "chart", "size": 1, "sha256": "00", "source": "x"}],
        }))
        .unwrap()
    }

    #[test]
    fn artifact_paths_outside_the_release_are_refused() {
        assert!(manifest("charts/floppies.tgz").check(&header()).is_ok());
        for (path, why) in
            [("/etc/shadow", "absolute"), ("../../etc/shadow", "'..'"), ("charts/../../x", "'..'"), ("", "empty"), ("a//b", "empty"), ("./a", "'.'")]
        {
            let err = format!("{:#}", manifest(path).check(&header()).unwrap_err());
            assert!(err.contains(why) && err.contains("manifest.json lists the artifact"), "{path}: {err}");
        }
    }

    #[test]
    fn header_and_manifest_must_agree() {
        let m = manifest("a");
        for (h, what) in [
            (Header { version: "9.9.9".into(), ..header() }, "version"),
            (Header { profile: "prod".into(), ..header() }, "profile"),
            (Header { arch: "aarch64".into(), ..header() }, "arch"),
        ] {
            let err = format!("{:#}", m.check(&h).unwrap_err());
            assert!(err.contains(&format!("the header says {what}")), "{err}");
        }
        let mut m = manifest("a");
        m.bundle.version = "../../etc".into();
        let h = Header { version: "../../etc".into(), ..header() };
        assert!(format!("{:#}", m.check(&h).unwrap_err()).contains("not a plain name"));
    }

    #[test]
    fn an_update_names_its_base_and_each_artifact_s_origin() {
        let full = manifest("images/app-images.tar");
        assert!(!full.is_update(), "a full manifest (no base, no origin) reads as it always did");
        let mut m = full.clone();
        m.base = Some(BaseRelease { version: "0.0.1-test".into(), payload_sha256: "ef".repeat(32), full_payload_sha256: "12".repeat(32) });
        let err = format!("{:#}", m.check(&header()).unwrap_err());
        assert!(err.contains("not where the artifact 'images/app-images.tar' comes from"), "{err}");
        m.artifacts[0].origin = Some(Origin::Blobs {
            base_path: "images/app-images.tar".into(),
            recipe: "delta/images/app-images.tar.recipe.json".into(),
            carried: "delta/images/app-images.tar.blobs".into(),
        });
        let err = format!("{:#}", m.check(&header()).unwrap_err());
        assert!(err.contains("the header says base version '' but manifest.json says '0.0.1-test'"), "{err}");
        let update_header = Header { base_version: "0.0.1-test".into(), ..header() };
        m.check(&update_header).unwrap();
        assert!(format!("{:#}", full.check(&update_header).unwrap_err()).contains("the header says base version '0.0.1-test'"));
        assert!(m.is_update());
        assert_eq!(Manifest::payload_paths(&m.artifacts[0]), ["delta/images/app-images.tar.recipe.json", "delta/images/app-images.tar.blobs"]);
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains(r#""origin":{"kind":"blobs","base_path":"#), "{json}");
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
        m.artifacts[0].origin = Some(Origin::Base { path: "../../etc/shadow".into() });
        assert!(format!("{:#}", m.check(&update_header).unwrap_err()).contains("names '../../etc/shadow'"));
        m.artifacts[0].origin = Some(Origin::Carried);
        m.base.as_mut().unwrap().payload_sha256 = "not a sum".into();
        assert!(format!("{:#}", m.check(&update_header).unwrap_err()).contains("not a version and a sha256"));
        let mut stray = full;
        stray.artifacts[0].origin = Some(Origin::Carried);
        assert!(format!("{:#}", stray.check(&header()).unwrap_err()).contains("an origin but names no base release"));
    }

    #[test]
    fn roles_are_kebab_case_and_unknown_fields_refused() {
        let a = Artifact {
            path: "k3s/k3s".into(),
            role: Role::K3sBinary,
            size: 1,
            sha256: "00".into(),
            source: "x".into(),
            pinned: None,
            images: vec![],
            origin: None,
        };
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"k3s-binary\""), "{json}");
        assert!(!json.contains("images"));
        let bad = json.replace("\"source\"", "\"sauce\"");
        assert!(serde_json::from_str::<Artifact>(&bad).is_err());
    }
}
