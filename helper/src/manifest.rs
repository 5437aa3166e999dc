//! `manifest.json`, the first entry of every payload: what the bundle holds.

use serde::{Deserialize, Serialize};

/// Written by `floppies-build pack`; read by `--info`, `version` and install.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version of this file.
    pub schema: u32,
    pub bundle: BundleInfo,
    pub k3s: K3sInfo,
    pub artifacts: Vec<Artifact>,
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

impl Manifest {
    pub fn is_test(&self) -> bool {
        self.bundle.profile != "prod"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"k3s-binary\""), "{json}");
        assert!(!json.contains("images"));
        let bad = json.replace("\"source\"", "\"sauce\"");
        assert!(serde_json::from_str::<Artifact>(&bad).is_err());
    }
}
