//! airgap/pins.json: every upstream input of the production build, each
//! pinned by sha256. Fields this build does not use are kept as they are.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use regex::Regex;
use serde::Deserialize;
use std::fs;

#[derive(Debug, Deserialize)]
pub struct Pins {
    pub k3s: Option<K3s>,
    #[serde(default)]
    pub images: Vec<PinnedImage>,
}

#[derive(Debug, Deserialize)]
pub struct K3s {
    pub version: String,
    #[serde(default)]
    pub artifacts: Vec<K3sArtifact>,
}

/// One k3s release asset for one architecture.
#[derive(Debug, Deserialize)]
pub struct K3sArtifact {
    /// The release asset's file name (`k3s`, `k3s-airgap-images-amd64.tar.zst`).
    pub name: String,
    /// `uname -m` spelling: x86_64, aarch64.
    pub arch: String,
    /// `k3s-binary` or `k3s-images`.
    pub role: floppies_format::manifest::Role,
    pub url: String,
    /// The release's checksum file that lists this asset (read by `pin`).
    #[serde(default)]
    pub checksums: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PinnedImage {
    pub name: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub reference: String,
    pub digest: Option<String>,
}

impl PinnedImage {
    /// `minio (cpuv1)`, for messages.
    pub fn label(&self) -> String {
        match &self.variant {
            Some(v) if v != "default" => format!("{} ({v})", self.name),
            _ => self.name.clone(),
        }
    }
}

impl Pins {
    pub fn load(path: &Utf8Path) -> Result<Pins> {
        let text = fs::read_to_string(path).with_context(|| format!("could not read '{path}'"))?;
        serde_json::from_str(&text).with_context(|| format!("'{path}' is not a valid pins file"))
    }
}

/// Sets the value of FIELD in the JSON object that has `"KEY": "VALUE"`,
/// editing the text in place so that the file keeps its layout and its
/// other fields. The object must be flat up to FIELD (as pins entries are).
pub fn set_field(text: &str, key: &str, value: &str, field: &str, new: &str) -> Result<String> {
    let anchor = format!("\"{key}\": {}", serde_json::to_string(value)?);
    let at = match text.match_indices(&anchor).map(|(i, _)| i).collect::<Vec<_>>()[..] {
        [i] => i,
        [] => bail!("no entry with {anchor}"),
        _ => bail!("more than one entry with {anchor}"),
    };
    let start = text[..at].rfind('{').context("bug: the entry is not inside an object")?;
    let end = at + text[at..].find('}').context("bug: the entry's object does not end")?;
    let pattern = Regex::new(&format!(r#""{}"\s*:\s*(null|"[^"]*")"#, regex::escape(field)))?;
    let m = pattern.captures(&text[start..end]).and_then(|c| c.get(1)).with_context(|| format!("the entry with {anchor} has no \"{field}\""))?;
    let (a, b) = (start + m.start(), start + m.end());
    Ok(format!("{}{}{}", &text[..a], serde_json::to_string(new)?, &text[b..]))
}

/// The sha256 that a `sha256sum`-style file lists for FILE.
pub fn sum_for(sums: &str, file: &str) -> Option<String> {
    sums.lines().find_map(|l| {
        let (hex, name) = l.split_once(char::is_whitespace)?;
        let name = name.trim_start().trim_start_matches('*');
        (name == file && hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{
  "images": [
    {
      "name": "a",
      "reference": "docker.io/x/a:1",
      "digest": null,
      "why": "first"
    },
    {
      "name": "b",
      "reference": "docker.io/x/b:1",
      "digest": "sha256:00",
      "why": "second"
    }
  ]
}"#;

    #[test]
    fn set_field_edits_only_that_entry() {
        let t = set_field(TEXT, "reference", "docker.io/x/b:1", "digest", "sha256:11").unwrap();
        assert!(t.contains(r#""digest": "sha256:11""#) && t.contains(r#""digest": null"#), "{t}");
        let t = set_field(&t, "reference", "docker.io/x/a:1", "digest", "sha256:22").unwrap();
        assert_eq!(t.replace("\"sha256:22\"", "null").replace("sha256:11", "sha256:00"), TEXT, "nothing else changed");
        assert!(set_field(TEXT, "reference", "docker.io/x/c:1", "digest", "x").is_err());
        assert!(set_field(TEXT, "reference", "docker.io/x/a:1", "sha256", "x").is_err());
    }

    /// airgap/prod.json names the k3s that airgap/pins.json pins (x86_64).
    #[test]
    fn prod_set_matches_the_pins() {
        let airgap = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../../airgap");
        let pins = Pins::load(&airgap.join("pins.json")).unwrap();
        let set = crate::spec::ArtifactSet::load(&airgap.join("prod.json")).unwrap();
        let k3s = pins.k3s.expect("pins.json pins k3s");
        assert_eq!(set.k3s_version, k3s.version);
        for a in k3s.artifacts.iter().filter(|a| a.arch == "x86_64") {
            let input = set.artifacts.iter().find(|i| i.role == a.role).unwrap();
            assert!(input.source.starts_with(&format!("{} ", a.url)), "{} vs {}", input.source, a.url);
        }
    }

    #[test]
    fn sums_file_lookup() {
        let sums = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  k3s\n\
                    ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789 *k3s-airgap-images-amd64.tar.zst\n";
        assert_eq!(sum_for(sums, "k3s").unwrap(), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        assert!(sum_for(sums, "k3s-airgap-images-amd64.tar.zst").unwrap().starts_with("abcdef"));
        assert_eq!(sum_for(sums, "k3s-arm64"), None);
    }
}
