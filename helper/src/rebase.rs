//! Installing an update file. Such a file carries only what changed since one
//! base build; the rest of the new release is rebuilt here from what that
//! build put on the host (its release directory, k3s's images and charts
//! directories), before the upgrade removes anything:
//!
//! 1. `check` refuses, naming what is installed and what the file needs,
//!    unless the installed build is exactly the base (or the new release
//!    is already installed from it, or was rebuilt by an interrupted run);
//! 2. `prepare` unpacks the update's payload (verified), copies each
//!    unchanged artifact from the host and rebuilds each image archive from
//!    the base's blobs and the carried ones (format::delta), checking each
//!    against the sha256 the manifest names, into a staging directory under
//!    /var/lib/floppies (kept by the upgrade's uninstall --keep-data);
//! 3. the unpack step then `place`s it as the release directory.
//!
//! Every host file is hostile until verified: opened without following a
//! link, refused unless a regular file of a bounded size, hashed in full.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use crate::journal::Journal;
use crate::layout::Layout;
use floppies_format::bundle::Bundle;
use floppies_format::delta::{self, Recipe};
use floppies_format::error::{ExitCode, Failure};
use floppies_format::hashing::sha256_of;
use floppies_format::header::{Header, HelperForm};
use floppies_format::manifest::{Artifact, BaseRelease, Manifest, Origin, Role};

/// The host directories an update reads from and writes to, from the host's layout.
#[derive(Clone, Debug)]
pub struct Places {
    /// /opt/floppies/releases: the base's release directory is below it.
    pub releases: Utf8PathBuf,
    /// k3s's images directory, where the base moved its image archives.
    pub k3s_images: Utf8PathBuf,
    /// k3s's static charts directory, where the base moved its chart.
    pub k3s_static_charts: Utf8PathBuf,
    /// /var/lib/floppies: kept by the upgrade's uninstall --keep-data.
    pub data: Utf8PathBuf,
}

impl Places {
    pub fn of(layout: &Layout) -> Places {
        Places {
            releases: layout.opt_dir().join("releases"),
            k3s_images: layout.k3s_images_dir(),
            k3s_static_charts: layout.k3s_static_charts_dir(),
            data: layout.data_dir(),
        }
    }
}

/// The largest recipe we read (a few hundred bytes per blob).
const MAX_RECIPE: u64 = 64 << 20;
/// The largest base image archive we read from the host.
const MAX_BASE_ARCHIVE: u64 = 1 << 40;

/// What the host is to an update file.
#[derive(Debug, PartialEq, Eq)]
pub enum Fit {
    /// Not an update file: a full install, as ever.
    Full,
    /// The base build is installed: rebuild from it.
    Base,
    /// The new release is already installed from this update (or its full file).
    Installed,
    /// An interrupted run already rebuilt the release (the base may be gone).
    Staged,
}

/// The header an update file installs as: the full file's build, so the
/// host looks as if installed from that file (status, a re-run, the next update).
pub fn identity(bundle: &Header, m: &Manifest) -> Header {
    match &m.base {
        Some(base) => Header { payload_sha256: base.full_payload_sha256.clone(), ..bundle.clone() },
        None => bundle.clone(),
    }
}

/// Whether this update file can be installed over what EXISTING says is
/// installed; a refusal names what is installed and what the file needs.
pub fn check(places: &Places, m: &Manifest, existing: Option<&Journal>) -> Result<Fit> {
    let Some(base) = &m.base else { return Ok(Fit::Full) };
    let new = &m.bundle.version;
    if let Some(j) = existing {
        if j.version == *new && j.build == base.full_payload_sha256 {
            return Ok(Fit::Installed);
        }
        if j.version == base.version && j.build == base.payload_sha256 {
            return Ok(Fit::Base);
        }
    }
    // Only over the base or the new version (an earlier run of this file may have removed the base).
    if staged(places, m).is_some() && existing.is_none_or(|j| j.version == base.version || j.version == *new) {
        return Ok(Fit::Staged);
    }
    let found = match existing {
        None => "no floppies installed".to_string(),
        Some(j) if j.version == base.version && j.build.is_empty() => format!("floppies {} installed by a helper that did not record its build", j.version),
        Some(j) if j.version == base.version => format!("another build of floppies {} (build {})", j.version, short(&j.build)),
        Some(j) => format!("floppies {} (build {})", j.version, short(&j.build)),
    };
    Err(refusal(m, base, &format!("this host has {found}")))
}

fn refusal(m: &Manifest, base: &BaseRelease, why: &str) -> anyhow::Error {
    Failure::new(
        ExitCode::Preflight,
        format!(
            "this is an update file from floppies {} (build {}) to {}: it installs only over exactly that build, and {why}; nothing was changed",
            base.version,
            short(&base.payload_sha256),
            m.bundle.version
        ),
    )
    .help(format!("use the full installer file of floppies {} instead: it installs on any host, over any version", m.bundle.version))
    .into()
}

/// /var/lib/floppies/update-staging: survives the upgrade's uninstall --keep-data.
fn staging_root(places: &Places) -> Utf8PathBuf {
    places.data.join("update-staging")
}

/// The full file's manifest, which an update's is with its base and origins
/// added: the release directory holds it, as after a full install.
pub fn full_manifest(m: &Manifest) -> Manifest {
    let mut full = m.clone();
    full.base = None;
    for a in &mut full.artifacts {
        a.origin = None;
    }
    full
}

/// The rebuilt release of M, if a run already finished rebuilding it.
pub fn staged(places: &Places, m: &Manifest) -> Option<Utf8PathBuf> {
    let dir = staging_root(places).join(&m.bundle.version);
    let text = fs::read_to_string(dir.join(floppies_format::manifest::FILE_NAME)).ok()?;
    let written: Manifest = serde_json::from_str(&text).ok()?;
    (written == full_manifest(m) && fs::symlink_metadata(&dir).is_ok_and(|d| d.is_dir())).then_some(dir)
}

/// Where the base put the artifact of ROLE it had at PATH: the stage step
/// moved image archives and the chart into k3s's directories; everything
/// else stayed in its release directory.
pub fn installed_location(places: &Places, base_version: &str, role: Role, path: &str) -> Utf8PathBuf {
    match role {
        Role::K3sImages | Role::AppImages => places.k3s_images.join(crate::steps::image_file_name(path)),
        Role::Chart => places.k3s_static_charts.join(crate::steps::CHART_FILE),
        Role::K3sBinary | Role::Content => places.releases.join(base_version).join(path),
    }
}

/// Opens a host file for reading without following a link at its end and
/// refuses anything but a regular file of at most MAX bytes.
fn open_host_file(path: &Utf8Path, max: u64) -> Result<(fs::File, u64)> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
        .with_context(|| format!("could not open '{path}' (it must be a regular file, not a link)"))?;
    let meta = f.metadata().with_context(|| format!("could not stat '{path}'"))?;
    if !meta.is_file() {
        bail!("'{path}' is not a regular file");
    }
    if meta.len() > max {
        bail!("'{path}' is {} bytes, more than the {max} expected", meta.len());
    }
    Ok((f, meta.len()))
}

/// O_NOFOLLOW | O_NONBLOCK (a FIFO planted in its place must not block the open).
fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32
}

/// Checks, reading only, that every artifact the update takes from the base
/// is on the host with the sha256 it needs. Used by `--dry-run`; `prepare`
/// checks the same again as it copies.
pub fn check_base_artifacts(places: &Places, m: &Manifest) -> Result<()> {
    let Some(base) = &m.base else { return Ok(()) };
    let mut bad = Vec::new();
    for a in &m.artifacts {
        let (path, sha, size) = match &a.origin {
            Some(Origin::Base { path }) => (path, a.sha256.as_str(), Some(a.size)),
            Some(Origin::Blobs { base_path, .. }) => (base_path, "", None),
            _ => continue,
        };
        let host = installed_location(places, &base.version, a.role, path);
        let r = open_host_file(&host, size.unwrap_or(MAX_BASE_ARCHIVE)).and_then(|(f, len)| {
            if size.is_some_and(|s| s != len) {
                bail!("it is {len} bytes, not {}", a.size);
            }
            Ok(sha256_of(BufReader::new(f)).with_context(|| format!("could not read '{host}'"))?.0)
        });
        match r {
            Ok(got) if sha.is_empty() || got == sha => {}
            Ok(got) => bad.push(format!("'{host}' is damaged (sha256 {got}, needs {sha})")),
            Err(e) => bad.push(format!("'{host}': {e:#}")),
        }
    }
    if !bad.is_empty() {
        return Err(refusal(m, base, &format!("the installed release is missing or has damaged artifacts: {}", bad.join("; "))));
    }
    Ok(())
}

/// Rebuilds the whole release of M into the staging directory and returns
/// it; on any failure it removes what it wrote and the host is as it was.
pub fn prepare(places: &Places, bundle: &Bundle, m: &Manifest) -> Result<Utf8PathBuf> {
    let Some(base) = &m.base else { bail!("bug: prepare for a full installer file") };
    if let Some(dir) = staged(places, m) {
        return Ok(dir);
    }
    let root = staging_root(places);
    if fs::symlink_metadata(&root).is_ok() {
        fs::remove_dir_all(&root).with_context(|| format!("could not remove the stale '{root}'"))?;
    }
    fs::create_dir_all(&root).with_context(|| format!("could not create '{root}'"))?;
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).with_context(|| format!("could not set the mode of '{root}'"))?;
    let result = rebuild(places, bundle, m, base, &root);
    if result.is_err() {
        let _ = fs::remove_dir_all(&root);
    }
    result
}

fn rebuild(places: &Places, bundle: &Bundle, m: &Manifest, base: &BaseRelease, root: &Utf8Path) -> Result<Utf8PathBuf> {
    let payload = root.join(".payload");
    bundle.extract(&payload)?;
    let release = root.join(".release");
    fs::create_dir(&release).with_context(|| format!("could not create '{release}'"))?;
    let mut damaged = Vec::new();
    for a in &m.artifacts {
        let dst = release.join(&a.path);
        let parent = dst.parent().context("bug: an artifact path has no parent")?;
        fs::create_dir_all(parent).with_context(|| format!("could not create '{parent}'"))?;
        let r = match a.origin.as_ref().context("bug: an update's artifact without an origin")? {
            Origin::Carried => {
                fs::rename(payload.join(&a.path), &dst).with_context(|| format!("the update file lacks its artifact '{}'", a.path))?;
                check_file(&dst, a)
            }
            Origin::Base { path } => copy_checked(&installed_location(places, &base.version, a.role, path), &dst, a),
            Origin::Blobs { base_path, recipe, carried } => {
                let host = installed_location(places, &base.version, a.role, base_path);
                rebuild_archive(&host, &payload.join(recipe), &payload.join(carried), &dst, a)
            }
        };
        if let Err(e) = r {
            damaged.push(format!("{}: {e:#}", a.path));
        }
    }
    if !damaged.is_empty() {
        return Err(refusal(m, base, &format!("the installed release is missing or has damaged artifacts: {}", damaged.join("; "))));
    }
    fs::remove_dir_all(&payload).with_context(|| format!("could not remove '{payload}'"))?;
    let text = serde_json::to_vec_pretty(&full_manifest(m)).context("bug: manifest not serialisable")?;
    fs::write(release.join(floppies_format::manifest::FILE_NAME), text).with_context(|| format!("could not write into '{release}'"))?;
    let dir = root.join(&m.bundle.version);
    fs::rename(&release, &dir).with_context(|| format!("could not rename '{release}' to '{dir}'"))?;
    Ok(dir)
}

/// Refuses DST unless it has A's size and sha256.
fn check_file(dst: &Utf8Path, a: &Artifact) -> Result<()> {
    let (got, len) = sha256_of(BufReader::new(fs::File::open(dst).with_context(|| format!("could not open '{dst}'"))?))?;
    if got != a.sha256 || len != a.size {
        bail!("it is {len} bytes with sha256 {got}, not {} bytes with {}", a.size, a.sha256);
    }
    Ok(())
}

/// Copies the host file SRC to DST, hashing as it goes; A names what it must be.
fn copy_checked(src: &Utf8Path, dst: &Utf8Path, a: &Artifact) -> Result<()> {
    let (f, len) = open_host_file(src, a.size)?;
    if len != a.size {
        bail!("'{src}' is {len} bytes, not {}", a.size);
    }
    let mut out = BufWriter::new(fs::File::create(dst).with_context(|| format!("could not create '{dst}'"))?);
    let (got, _) = sha256_of(Tee { inner: BufReader::new(f), out: &mut out }).with_context(|| format!("could not copy '{src}'"))?;
    out.flush().with_context(|| format!("could not write '{dst}'"))?;
    if got != a.sha256 {
        bail!("'{src}' is damaged: sha256 {got}, needs {}", a.sha256);
    }
    set_mode(dst, a)
}

/// Rebuilds A at DST from the host's base archive and the update's recipe and blobs.
fn rebuild_archive(host: &Utf8Path, recipe: &Utf8Path, carried: &Utf8Path, dst: &Utf8Path, a: &Artifact) -> Result<()> {
    let (rf, _) = open_host_file(recipe, MAX_RECIPE).context("the update's recipe")?;
    let mut text = Vec::new();
    rf.take(MAX_RECIPE).read_to_end(&mut text).with_context(|| format!("could not read '{recipe}'"))?;
    let recipe: Recipe = serde_json::from_slice(&text).with_context(|| format!("'{recipe}' is not a recipe"))?;
    if recipe.sha256 != a.sha256 || recipe.size != a.size {
        bail!("the update's recipe rebuilds {} bytes with sha256 {}, but its manifest names {} bytes with {}", recipe.size, recipe.sha256, a.size, a.sha256);
    }
    let (bf, _) = open_host_file(host, MAX_BASE_ARCHIVE)?;
    let indexed = delta::index(BufReader::with_capacity(1 << 20, &bf)).with_context(|| format!("could not read '{host}'"))?;
    if indexed.sha256 != recipe.base_sha256 {
        bail!("'{host}' is damaged or another build's: sha256 {}, needs {}", indexed.sha256, recipe.base_sha256);
    }
    let (cf, _) = open_host_file(carried, recipe.carried_size)?;
    let mut base = BufReader::with_capacity(1 << 20, bf);
    let out = BufWriter::with_capacity(1 << 20, fs::File::create(dst).with_context(|| format!("could not create '{dst}'"))?);
    delta::reassemble(&recipe, BufReader::new(cf), &mut base, &indexed.blobs, out).with_context(|| format!("could not rebuild '{}' from '{host}'", a.path))?;
    set_mode(dst, a)
}

fn set_mode(dst: &Utf8Path, a: &Artifact) -> Result<()> {
    let mode = if a.role == Role::K3sBinary { 0o755 } else { 0o644 };
    fs::set_permissions(dst, fs::Permissions::from_mode(mode)).with_context(|| format!("could not set the mode of '{dst}'"))
}

/// Passes what is read from INNER to OUT as well.
struct Tee<'a, R, W> {
    inner: R,
    out: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Removes what `prepare` staged (install was declined).
pub fn discard(places: &Places) {
    let _ = fs::remove_dir_all(staging_root(places));
}

/// Moves the rebuilt release STAGED to DIR (a rename, or a copy across
/// filesystems), then removes the staging directory.
pub fn place(places: &Places, staged: &Utf8Path, dir: &Utf8Path) -> Result<()> {
    let parent = dir.parent().context("bug: a release dir has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("could not create '{parent}'"))?;
    if fs::rename(staged, dir).is_err() {
        let tmp = parent.join(format!(".{}.staging-update", dir.file_name().unwrap_or("release")));
        let _ = fs::remove_dir_all(&tmp);
        copy_tree(staged, &tmp)?;
        fs::rename(&tmp, dir).with_context(|| format!("could not rename '{tmp}' to '{dir}'"))?;
    }
    let root = staging_root(places);
    fs::remove_dir_all(&root).with_context(|| format!("could not remove '{root}'"))
}

/// Copies our own staged tree (directories and regular files only).
fn copy_tree(src: &Utf8Path, dst: &Utf8Path) -> Result<()> {
    fs::create_dir_all(dst).with_context(|| format!("could not create '{dst}'"))?;
    for e in fs::read_dir(src).with_context(|| format!("could not read '{src}'"))? {
        let e = e?;
        let name = e.file_name().into_string().map_err(|n| anyhow::anyhow!("a non-UTF-8 name {n:?} in '{src}'"))?;
        let (from, to) = (src.join(&name), dst.join(&name));
        let kind = e.file_type()?;
        if kind.is_dir() {
            copy_tree(&from, &to)?;
        } else if kind.is_file() {
            fs::copy(&from, &to).with_context(|| format!("could not copy '{from}' to '{to}'"))?;
        } else {
            bail!("'{from}' is neither a file nor a directory");
        }
    }
    Ok(())
}

/// What `--info`, `--check` and `install --dry-run` say about an update file.
pub fn describe(m: &Manifest) -> Vec<String> {
    let Some(base) = &m.base else { return Vec::new() };
    let mut lines = vec![format!(
        "this is an UPDATE file from floppies {} (build {}) to {}: it installs only over exactly that build; the full installer file of {} installs anywhere",
        base.version,
        short(&base.payload_sha256),
        m.bundle.version,
        m.bundle.version
    )];
    for a in &m.artifacts {
        let how = match &a.origin {
            Some(Origin::Carried) | None => "carried in this file".to_string(),
            Some(Origin::Base { path }) => format!("taken from the installed {}: {path}", base.version),
            Some(Origin::Blobs { base_path, .. }) => format!("rebuilt from the installed {}'s {base_path} and the blobs this file carries", base.version),
        };
        lines.push(format!("  {:<40} {how}", a.path));
    }
    lines
}

/// What `install --dry-run` says of an update file's helper (nothing for a full file's).
pub fn describe_helper(h: &Header) -> Option<String> {
    match h.helper_form {
        HelperForm::Raw => None,
        HelperForm::Gzip => Some(format!("its helper changed since {} and is carried in this file (gzip'd, {} bytes)", h.base_version, h.helper_size)),
        HelperForm::Host => Some(format!(
            "its helper is not in this file: it is the one floppies {} installed at {} (sha256 {}), which the stub copied and checked before running it",
            h.base_version,
            h.helper_from,
            short(&h.helper_sha256)
        )),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
#[path = "rebase_tests.rs"]
mod tests;
