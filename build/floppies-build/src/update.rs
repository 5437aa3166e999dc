//! Update files: the new release's payload with only what changed since a
//! base build. Every artifact of the new release is listed; those with the
//! base's sha256 are taken from the base on the host, the app image archive
//! is carried as the blobs the base's lacks (format::delta), anything else
//! that changed (k3s's own air-gap archive is opaque) is carried whole.
//! Each recipe is replayed here against the base before it is packed, so a
//! file that would not rebuild the full bundle's bytes is never written.
//! The helper is an artifact like the others: byte-identical to the base's,
//! it is not carried (the stub copies the one the base installed and checks
//! it); changed, it is carried gzip'd.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::fs;
use std::io::BufReader;

use crate::assemble::{self, HelperPart};
use crate::tarball;
use floppies_format::bundle::Bundle;
use floppies_format::delta;
use floppies_format::header::Header;
use floppies_format::manifest::{Artifact, BaseRelease, Manifest, Origin, Role};

/// Where the update's rebuilt archives' recipes and blobs live in its payload.
pub const DELTA_DIR: &str = "delta";

/// What `make` calls an update from BASE to NEW.
pub fn file_name(new_version: &str, base_version: &str) -> String {
    format!("floppies-installer-{new_version}-from-{base_version}.run")
}

/// What an update carries, for the build's own summary.
pub struct Summary {
    pub manifest: Manifest,
    pub carried_bytes: u64,
    pub full_bytes: u64,
}

/// A written update file.
pub struct Written {
    pub path: Utf8PathBuf,
    pub header: Header,
    pub summary: Summary,
}

/// Writes the update file from BASE to NEW (full files) into OUT_DIR, named
/// by `file_name`, with STUB as its stub and NEW's helper: not carried when
/// it is the base's (the stub takes it from HELPER_FROM on the host, where
/// every install puts it), gzip'd when it changed. SCRATCH is emptied first.
pub fn write(base: &Utf8Path, new: &Utf8Path, stub: &Utf8Path, scratch: &Utf8Path, level: i32, out_dir: &Utf8Path, helper_from: &str) -> Result<Written> {
    let payload = scratch.join("payload.tar.zst");
    let summary = pack(base, new, &scratch.join("work"), level, &payload)?;
    let (base_bundle, new_bundle) = (Bundle::open(base)?, Bundle::open(new)?);
    let helper = scratch.join("helper");
    fs::write(&helper, new_bundle.helper()?).with_context(|| format!("could not write '{helper}'"))?;
    base_bundle.helper().with_context(|| format!("the base '{base}' is damaged"))?;
    let helper_part = if base_bundle.header.helper_sha256 == new_bundle.header.helper_sha256 { HelperPart::Host(helper_from) } else { HelperPart::Gzip };
    let b = &summary.manifest.bundle;
    let from = &summary.manifest.base.as_ref().context("bug: an update without a base")?.version;
    let path = out_dir.join(file_name(&b.version, from));
    fs::create_dir_all(out_dir).with_context(|| format!("could not create '{out_dir}'"))?;
    let parts = assemble::Parts {
        stub_template: stub,
        helper: &helper,
        helper_part,
        payload: &payload,
        version: &b.version,
        profile: &b.profile,
        arch: &b.arch,
        base_version: from,
    };
    let header = assemble::assemble(&parts, &path).with_context(|| format!("could not assemble '{path}'"))?;
    Ok(Written { path, header, summary })
}

/// Packs the update payload from the full bundles BASE and NEW into OUT,
/// using SCRATCH for their unpacked payloads.
pub fn pack(base: &Utf8Path, new: &Utf8Path, scratch: &Utf8Path, level: i32, out: &Utf8Path) -> Result<Summary> {
    let (base_bundle, new_bundle) = (Bundle::open(base)?, Bundle::open(new)?);
    let (bm, nm) = (base_bundle.manifest()?, new_bundle.manifest()?);
    for (m, what, path) in [(&bm, "base", base), (&nm, "new", new)] {
        if m.is_update() {
            bail!("the {what} file '{path}' is itself an update; an update is made from two full installer files");
        }
    }
    for (what, b, n) in [("arch", &bm.bundle.arch, &nm.bundle.arch), ("profile", &bm.bundle.profile, &nm.bundle.profile)] {
        if b != n {
            bail!("the base is for {what} '{b}' and the new file for '{n}'; an update is between builds of one {what}");
        }
    }
    if base_bundle.header.payload_sha256 == new_bundle.header.payload_sha256 {
        bail!("'{base}' and '{new}' are the same build; there is nothing to update");
    }
    if fs::symlink_metadata(scratch).is_ok() {
        fs::remove_dir_all(scratch).with_context(|| format!("could not remove '{scratch}'"))?;
    }
    let (base_dir, new_dir, delta_dir) = (scratch.join("base"), scratch.join("new"), scratch.join(DELTA_DIR));
    base_bundle.extract(&base_dir)?;
    new_bundle.extract(&new_dir)?;
    let mut manifest = nm.clone();
    manifest.base = Some(BaseRelease {
        version: bm.bundle.version.clone(),
        payload_sha256: base_bundle.header.payload_sha256.clone(),
        full_payload_sha256: new_bundle.header.payload_sha256.clone(),
    });
    let mut files = Vec::new();
    let mut carried_bytes = 0;
    for a in &mut manifest.artifacts {
        let origin = origin_of(a, &bm, &base_dir, &new_dir, &delta_dir)?;
        let carried = match &origin {
            Origin::Carried => vec![(a.path.clone(), new_dir.join(&a.path), role_is_executable(a.role))],
            Origin::Base { .. } => vec![],
            Origin::Blobs { recipe, carried, .. } => {
                vec![(recipe.clone(), scratch.join(recipe), false), (carried.clone(), scratch.join(carried), false)]
            }
        };
        for (path, source, executable) in carried {
            carried_bytes += fs::metadata(&source).with_context(|| format!("could not stat '{source}'"))?.len();
            files.push(tarball::FileEntry { path, source, executable });
        }
        a.origin = Some(origin);
    }
    let json = serde_json::to_vec_pretty(&manifest).context("bug: manifest not serialisable")?;
    tarball::write(out, &json, &mut files, level)?;
    let full_bytes = manifest.artifacts.iter().map(|a| a.size).sum();
    Ok(Summary { manifest, carried_bytes, full_bytes })
}

/// Only the k3s binary is executable in a payload (pack's artifact sets say so).
fn role_is_executable(role: Role) -> bool {
    role == Role::K3sBinary
}

/// How the update supplies A: from the base if unchanged, by blobs if it is
/// the app image archive and the base has one, else whole.
fn origin_of(a: &Artifact, base: &Manifest, base_dir: &Utf8Path, new_dir: &Utf8Path, delta_dir: &Utf8Path) -> Result<Origin> {
    let same_role = || base.artifacts.iter().filter(|b| b.role == a.role);
    if let Some(b) = same_role().find(|b| b.sha256 == a.sha256 && b.path == a.path).or_else(|| same_role().find(|b| b.sha256 == a.sha256)) {
        return Ok(Origin::Base { path: b.path.clone() });
    }
    let Some(b) = same_role().find(|b| b.role == Role::AppImages) else { return Ok(Origin::Carried) };
    let base_file = base_dir.join(&b.path);
    let indexed = delta::index(BufReader::new(fs::File::open(&base_file).with_context(|| format!("could not open '{base_file}'"))?))
        .with_context(|| format!("could not read the base's image archive '{}'", b.path))?;
    let recipe_path = format!("{DELTA_DIR}/{}.recipe.json", a.path);
    let carried_path = format!("{DELTA_DIR}/{}.blobs", a.path);
    let parent = delta_dir.join(&a.path);
    let parent = parent.parent().context("bug: a delta path has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("could not create '{parent}'"))?;
    let carried_file = delta_dir.parent().context("bug: delta dir has no parent")?.join(&carried_path);
    let new_file = new_dir.join(&a.path);
    let recipe = {
        let out = std::io::BufWriter::new(fs::File::create(&carried_file).with_context(|| format!("could not create '{carried_file}'"))?);
        let new = BufReader::new(fs::File::open(&new_file).with_context(|| format!("could not open '{new_file}'"))?);
        delta::diff(new, &indexed.blobs, &indexed.sha256, out).with_context(|| format!("could not diff '{}' against the base's", a.path))?
    };
    if recipe.sha256 != a.sha256 || recipe.size != a.size {
        bail!("bug: '{}' diffs to {} bytes with sha256 {}, but the manifest says {} bytes, {}", a.path, recipe.size, recipe.sha256, a.size, a.sha256);
    }
    if recipe.carried_size >= a.size {
        return Ok(Origin::Carried);
    }
    // Replay it now, as the host will: the update must rebuild these exact bytes.
    let carried = BufReader::new(fs::File::open(&carried_file)?);
    let mut base_reader = BufReader::new(fs::File::open(&base_file)?);
    delta::reassemble(&recipe, carried, &mut base_reader, &indexed.blobs, std::io::sink())
        .with_context(|| format!("bug: the recipe for '{}' does not rebuild it", a.path))?;
    let recipe_file: Utf8PathBuf = delta_dir.parent().context("bug: delta dir has no parent")?.join(&recipe_path);
    fs::write(&recipe_file, serde_json::to_vec(&recipe)?).with_context(|| format!("could not write '{recipe_file}'"))?;
    Ok(Origin::Blobs { base_path: b.path.clone(), recipe: recipe_path, carried: carried_path })
}

/// Rebuilds the full release an update file describes into OUT, from
/// BASE_DIR, the base's payload unpacked (every artifact at its payload
/// path): what install does on a host, with the base laid out as in its
/// file. For the bench and for checking an update file before shipping it.
pub fn replay(update: &Utf8Path, base_dir: &Utf8Path, out: &Utf8Path) -> Result<()> {
    let bundle = Bundle::open(update)?;
    let m = bundle.manifest()?;
    if !m.is_update() {
        bail!("'{update}' is a full installer file, not an update");
    }
    let payload = out.with_file_name(format!(".{}.payload", out.file_name().unwrap_or("out")));
    if fs::symlink_metadata(&payload).is_ok() {
        fs::remove_dir_all(&payload).with_context(|| format!("could not remove '{payload}'"))?;
    }
    bundle.extract(&payload)?;
    for a in &m.artifacts {
        let dst = out.join(&a.path);
        fs::create_dir_all(dst.parent().context("bug: an artifact path has no parent")?)?;
        match a.origin.as_ref().context("bug: an update's artifact without an origin")? {
            Origin::Carried => fs::rename(payload.join(&a.path), &dst).with_context(|| format!("the update lacks '{}'", a.path))?,
            Origin::Base { path } => {
                fs::copy(base_dir.join(path), &dst).with_context(|| format!("could not copy the base's '{path}'"))?;
            }
            Origin::Blobs { base_path, recipe, carried } => {
                let recipe: delta::Recipe = serde_json::from_slice(&fs::read(payload.join(recipe))?).context("the update's recipe is not valid")?;
                let base_file = base_dir.join(base_path);
                let indexed = delta::index(BufReader::with_capacity(1 << 20, fs::File::open(&base_file)?))?;
                if indexed.sha256 != recipe.base_sha256 {
                    bail!("'{base_file}' is not the base this update needs (sha256 {}, needs {})", indexed.sha256, recipe.base_sha256);
                }
                let mut base = BufReader::with_capacity(1 << 20, fs::File::open(&base_file)?);
                let carried = BufReader::new(fs::File::open(payload.join(carried))?);
                let w = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(&dst)?);
                delta::reassemble(&recipe, carried, &mut base, &indexed.blobs, w)?;
            }
        }
        let (sha, size) = floppies_format::hashing::sha256_of(BufReader::new(fs::File::open(&dst)?))?;
        if sha != a.sha256 || size != a.size {
            bail!("'{}' rebuilt as {size} bytes with sha256 {sha}, not {} bytes with {}", a.path, a.size, a.sha256);
        }
    }
    fs::remove_dir_all(&payload).with_context(|| format!("could not remove '{payload}'"))
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
