//! Step 2: the payload, verified while unpacked, under /opt/floppies/releases/VERSION.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde_json::{json, Value};
use std::fs;

use super::{InstallCx, Step, UninstallCx};
use crate::files::symlink_atomic;
use crate::layout::Layout;

pub struct Unpack;

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

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        let Some(bundle) = cx.bundle else { return Ok(true) };
        let version = &bundle.header.version;
        let link_ok = fs::read_link(cx.layout.current_link()).is_ok_and(|t| t.as_os_str() == relative(version).as_str());
        Ok(cx.layout.release_dir(version).join("manifest.json").is_file() && link_ok)
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let Some(bundle) = cx.bundle else { bail!("bug: unpack without a bundle") };
        let dir = cx.layout.release_dir(&bundle.header.version);
        if !dir.join("manifest.json").is_file() {
            if dir.exists() {
                // A release dir without its manifest is not ours to trust: start it again.
                fs::remove_dir_all(&dir).with_context(|| format!("could not remove the incomplete '{dir}'"))?;
            }
            remove_stale_staging(dir.parent().expect("bug: release dir has no parent"))?;
            extract_release(cx.out, bundle, &dir)?;
        }
        point_current(cx.layout, &bundle.header.version)?;
        Ok(json!({ "release_dir": dir, "version": bundle.header.version }))
    }

    fn undo(&self, cx: &UninstallCx, _record: &Value) -> Result<()> {
        let opt = cx.layout.opt_dir();
        if opt.exists() {
            fs::remove_dir_all(&opt).with_context(|| format!("could not remove '{opt}'"))?;
        }
        Ok(())
    }
}

/// Install's one full pass over the payload: streamed into a staging dir
/// beside DIR while hashed, renamed to DIR only if the hash matches, with a
/// progress bar on a terminal. `--extract` runs the same (`make bench` times it).
pub fn extract_release(out: &crate::report::Reporter, bundle: &floppies_format::bundle::Bundle, dir: &Utf8Path) -> Result<u64> {
    let bar = out.bytes_bar(bundle.header.payload_size, "unpacking");
    let files = bundle.extract_through(dir, |r| bar.wrap_read(r))?;
    bar.finish_and_clear();
    Ok(files)
}

/// The `current` link's target, relative so the tree can move.
fn relative(version: &str) -> String {
    format!("releases/{version}")
}

/// Points `current` at VERSION atomically (new link, then rename over the old).
fn point_current(layout: &Layout, version: &str) -> Result<()> {
    let link = layout.current_link();
    symlink_atomic(Utf8Path::new(&relative(version)), &link).with_context(|| format!("could not point '{link}' at {version}"))
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
