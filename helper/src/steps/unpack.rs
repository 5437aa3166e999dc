//! Step 2: the payload, verified while unpacked, under /opt/floppies/releases/VERSION.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};
use std::fs;

use super::{Cx, Step};
use crate::{paths, rebase};

pub struct Unpack;

/// /opt/floppies/releases/VERSION for this bundle.
pub fn release_dir(version: &str) -> Utf8PathBuf {
    paths::host(paths::OPT_DIR).join("releases").join(version)
}

/// /opt/floppies/current.
pub fn current_link() -> Utf8PathBuf {
    paths::host(paths::OPT_DIR).join("current")
}

impl Step for Unpack {
    fn name(&self) -> &'static str {
        "unpack"
    }

    fn summary(&self) -> &'static str {
        "unpack the payload into /opt/floppies/releases/VERSION and point 'current' at it"
    }

    fn undo_summary(&self) -> &'static str {
        "remove /opt/floppies"
    }

    fn done(&self, cx: &Cx) -> Result<bool> {
        let Some(bundle) = cx.bundle else { return Ok(true) };
        let version = &bundle.header.version;
        let link_ok = fs::read_link(current_link()).is_ok_and(|t| t.as_os_str() == relative(version).as_str());
        Ok(release_dir(version).join("manifest.json").is_file() && link_ok)
    }

    fn apply(&self, cx: &mut Cx) -> Result<Value> {
        let Some(bundle) = cx.bundle else { bail!("bug: unpack without a bundle") };
        let dir = release_dir(&bundle.header.version);
        if !dir.join("manifest.json").is_file() {
            if dir.exists() {
                // A release dir without its manifest is not ours to trust: start it again.
                fs::remove_dir_all(&dir).with_context(|| format!("could not remove the incomplete '{dir}'"))?;
            }
            remove_stale_staging(dir.parent().expect("bug: release dir has no parent"))?;
            match cx.manifest.as_ref().filter(|m| m.is_update()) {
                // An update file's release was rebuilt and verified before the upgrade began.
                Some(m) => {
                    let places = rebase::Places::on_host();
                    let staged = rebase::staged(&places, m)
                        .context("the release this update file rebuilt is gone; run its install again while the base release is installed, or use the full installer file")?;
                    rebase::place(&places, &staged, &dir)?;
                }
                None => {
                    let bar = cx.out.bytes_bar(bundle.header.payload_size, "unpacking");
                    bundle.extract_through(&dir, |r| bar.wrap_read(r))?;
                    bar.finish_and_clear();
                }
            }
        }
        point_current(&bundle.header.version)?;
        Ok(json!({ "release_dir": dir, "version": bundle.header.version }))
    }

    fn undo(&self, _cx: &Cx, _record: &Value) -> Result<()> {
        let opt = paths::host(paths::OPT_DIR);
        if opt.exists() {
            fs::remove_dir_all(&opt).with_context(|| format!("could not remove '{opt}'"))?;
        }
        Ok(())
    }
}

/// The `current` link's target, relative so the tree can move.
fn relative(version: &str) -> String {
    format!("releases/{version}")
}

/// Points `current` at VERSION atomically (new link, then rename over the old).
fn point_current(version: &str) -> Result<()> {
    let link = current_link();
    let tmp = link.with_file_name(".current.tmp");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(relative(version), &tmp).with_context(|| format!("could not create '{tmp}'"))?;
    fs::rename(&tmp, &link).with_context(|| format!("could not point '{link}' at {version}"))
}

/// Staging dirs left by an unpack that was killed.
fn remove_stale_staging(releases: &Utf8Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(releases) else { return Ok(()) };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().contains(".staging-") {
            fs::remove_dir_all(e.path()).with_context(|| format!("could not remove '{}'", e.path().display()))?;
        }
    }
    Ok(())
}
