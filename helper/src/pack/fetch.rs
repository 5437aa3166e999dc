//! The production build's inputs: every upstream artifact pinned in
//! airgap/pins.json, looked up in a content-addressed cache
//! (`$FLOPPIES_CACHE/sha256/<hex>`) and verified before use.
//!
//! Downloading is not built yet: what the cache lacks is named, with how to
//! pre-stage it, and the build stops.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use std::fs;

use crate::hashing::sha256_of;

/// One pinned upstream input.
#[derive(Debug)]
pub struct Pinned {
    pub name: String,
    pub source: String,
    /// `sha256:<hex>`, or None when the pin has no verified digest yet.
    pub digest: Option<String>,
}

/// Reads every pinned item: the k3s artifacts and the app images.
pub fn pinned(pins: &Utf8Path) -> Result<(Vec<Pinned>, Vec<String>)> {
    let text = fs::read_to_string(pins).with_context(|| format!("could not read '{pins}'"))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("'{pins}' is not JSON"))?;
    let mut items = Vec::new();
    let mut problems = Vec::new();
    match v["k3s"]["artifacts"].as_array() {
        Some(arts) => {
            for a in arts {
                items.push(Pinned {
                    name: a["name"].as_str().unwrap_or("k3s artifact").to_string(),
                    source: a["url"].as_str().unwrap_or("").to_string(),
                    digest: a["sha256"].as_str().filter(|d| d.len() == 64).map(|d| format!("sha256:{d}")),
                });
            }
        }
        None => problems.push(format!("k3s is not pinned yet: '{pins}' has no k3s.artifacts (binary and air-gap images per arch)")),
    }
    for i in v["images"].as_array().into_iter().flatten() {
        items.push(Pinned {
            name: i["name"].as_str().unwrap_or("image").to_string(),
            source: i["reference"].as_str().unwrap_or("").to_string(),
            digest: i["digest"].as_str().filter(|d| d.starts_with("sha256:") && d.len() == 71).map(str::to_string),
        });
    }
    Ok((items, problems))
}

/// Checks the cache for every pinned item; fails naming all that are missing.
pub fn fetch(pins: &Utf8Path, cache: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let (items, mut problems) = pinned(pins)?;
    let mut found = Vec::new();
    for item in &items {
        let Some(digest) = &item.digest else {
            problems.push(format!("{} ({}): no verified digest is pinned, so it cannot be fetched safely", item.name, item.source));
            continue;
        };
        let path = cache.join("sha256").join(digest.trim_start_matches("sha256:"));
        if path.is_file() {
            let (hex, _) = sha256_of(fs::File::open(&path)?).with_context(|| format!("could not read '{path}'"))?;
            if format!("sha256:{hex}") == *digest {
                found.push(path);
                continue;
            }
            problems.push(format!("{}: the cached copy '{path}' is corrupt (sha256:{hex})", item.name));
            continue;
        }
        problems.push(format!("{} ({}): not in the cache, and downloading is not built yet", item.name, item.source));
    }
    if !problems.is_empty() {
        let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
        bail!(
            "could not gather the production artifacts ({} problems):{list}\n\
             help: the production build needs the pinned upstream artifacts; on a machine with internet, \
             place each file in '{cache}/sha256/<sha256 hex>' (see README.md, 'Building the production installer')",
            problems.len()
        );
    }
    Ok(found)
}
