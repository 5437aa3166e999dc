//! How each upstream artifact of a production build was pinned: written by
//! `fetch` beside what it lays out (`provenance.json`), read by `pack`, which
//! records it in the bundle's manifest so that `--info` shows it.

use anyhow::{Context, Result};
use camino::Utf8Path;
use serde::{Deserialize, Serialize};
use std::fs;

use floppies_format::manifest::Role;

pub const FILE_NAME: &str = "provenance.json";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The k3s binary and its air-gap image archive.
    pub artifacts: Vec<ArtifactPin>,
    /// Each app image, by the digest it was pulled at.
    pub images: Vec<ImagePin>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactPin {
    pub role: Role,
    pub sha256: String,
    /// `pinned in airgap/pins.json` or `resolved at build time from URL`, and
    /// where it was fetched from when that is not the pinned URL (a mirror).
    pub pinned: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePin {
    pub reference: String,
    pub digest: String,
    pub pinned: String,
}

impl Provenance {
    pub fn load(path: &Utf8Path) -> Result<Provenance> {
        let text = fs::read_to_string(path).with_context(|| format!("could not read '{path}'"))?;
        serde_json::from_str(&text).with_context(|| format!("'{path}' is not a provenance file written by 'floppies-build fetch'"))
    }

    pub fn write(&self, path: &Utf8Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).context("bug: provenance not serialisable")?;
        let tmp = camino::Utf8PathBuf::from(format!("{path}.tmp"));
        fs::write(&tmp, json).with_context(|| format!("could not write '{tmp}'"))?;
        fs::rename(&tmp, path).with_context(|| format!("could not rename '{tmp}' to '{path}'"))
    }

    pub fn artifact(&self, role: Role) -> Option<&ArtifactPin> {
        self.artifacts.iter().find(|a| a.role == role)
    }

    pub fn image(&self, digest: &str) -> Option<&ImagePin> {
        self.images.iter().find(|i| i.digest == digest)
    }
}
