//! Every file the helper writes on the host goes through here: created
//! under a temporary name beside its destination with its final mode, its
//! bytes fsynced, renamed over the destination, and the directory fsynced,
//! so a reader or a power cut sees the old file or the new one, never half,
//! and never with wider permissions than it will have.

use anyhow::{Context, Result};
use camino::Utf8Path;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

/// Creates DIR (and its parents) if needed and sets its mode.
pub fn private_dir(dir: &Utf8Path, mode: u32) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create '{dir}'"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).with_context(|| format!("could not set the mode of '{dir}'"))
}

/// Writes TEXT to PATH as a 0600 file, atomically.
pub fn write_private(path: &Utf8Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes(), 0o600)
}

/// Writes BYTES to PATH with MODE, atomically.
pub fn write_atomic(path: &Utf8Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = temp_beside(path);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).with_context(|| format!("could not create '{tmp}'"))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).with_context(|| format!("could not write '{tmp}'"))?;
    commit(&tmp, path)
}

/// Copies SRC to DST with MODE, atomically (the copy is fsynced before it
/// takes DST's name).
pub fn copy_atomic(src: &Utf8Path, dst: &Utf8Path, mode: u32) -> Result<()> {
    let tmp = temp_beside(dst);
    let _ = fs::remove_file(&tmp);
    fs::copy(src, &tmp).with_context(|| format!("could not copy '{src}' to '{tmp}'"))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).with_context(|| format!("could not set the mode of '{tmp}'"))?;
    fs::File::open(&tmp).and_then(|f| f.sync_all()).with_context(|| format!("could not sync '{tmp}'"))?;
    commit(&tmp, dst)
}

/// Points the symlink LINK at TARGET atomically (a new link, renamed over the old).
pub fn symlink_atomic(target: &Utf8Path, link: &Utf8Path) -> Result<()> {
    let tmp = temp_beside(link);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).with_context(|| format!("could not create '{tmp}'"))?;
    commit(&tmp, link)
}

/// Makes a new directory, mode 0700, under BASE, named PREFIX and a unique
/// suffix, for scratch files a root command needs (a CA for curl): never a
/// directory that was already there, whoever made it, so nothing another
/// user planted (a directory, a symlink) is written through. The caller
/// removes it.
pub fn fresh_private_dir(base: &Utf8Path, prefix: &str) -> Result<camino::Utf8PathBuf> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    fresh_dir_among(base, (0..64u32).map(|i| format!("{prefix}-{}-{nanos:x}-{i}", std::process::id())))
}

fn fresh_dir_among(base: &Utf8Path, names: impl Iterator<Item = String>) -> Result<camino::Utf8PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    for name in names {
        let dir = base.join(name);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("could not create '{dir}'"))),
        }
    }
    anyhow::bail!("could not make a new directory under '{base}': every name tried exists")
}

/// Creates NAME in DIR as a new file with MODE: never through a symlink,
/// never over an existing file. DIR is refused unless only root (or we) can
/// write to it, or it is sticky (like /tmp), so no one else can swap or plant
/// names in it. The checks are made on the directory as opened, and the file
/// is created relative to that same descriptor. WHAT names the file in
/// errors; HELP says where else to put it.
pub fn create_new_in(dir: &Utf8Path, name: &str, mode: u32, what: &str, help: &str) -> Result<fs::File> {
    use floppies_format::error::{ExitCode, Failure};
    use rustix::fs::{fstat, open, openat, Mode, OFlags};
    let fd = open(dir.as_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .with_context(|| format!("could not open the directory '{dir}'"))?;
    let st = fstat(&fd).with_context(|| format!("could not stat '{dir}'"))?;
    if !safe_dir(st.st_uid, st.st_mode, rustix::process::geteuid().as_raw()) {
        anyhow::bail!(Failure::new(
            ExitCode::Failed,
            format!("refusing to write {what} into '{dir}': another user can write to it (owner uid {}, mode {:o})", st.st_uid, st.st_mode & 0o7777)
        )
        .help(help));
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let path = dir.join(name);
    match openat(&fd, name, flags, Mode::from_raw_mode(mode)) {
        Ok(f) => Ok(fs::File::from(f)),
        Err(rustix::io::Errno::EXIST) => {
            anyhow::bail!(Failure::new(ExitCode::Failed, format!("'{path}' already exists (a file or a link); refusing to overwrite it"))
                .help("remove it, or choose another name"))
        }
        Err(e) => Err(anyhow::Error::new(std::io::Error::from(e)).context(format!("could not create '{path}'"))),
    }
}

/// True when a directory with this owner and mode lets no one but root and
/// `euid` replace its entries: owned by either, and not group- or
/// world-writable unless sticky.
fn safe_dir(owner: u32, mode: u32, euid: u32) -> bool {
    let sticky = mode & 0o1000 != 0;
    (owner == 0 || owner == euid) && (sticky || mode & 0o022 == 0)
}

/// `.NAME.tmp` beside PATH: on the same filesystem, so the rename is atomic.
fn temp_beside(path: &Utf8Path) -> camino::Utf8PathBuf {
    path.with_file_name(format!(".{}.tmp", path.file_name().unwrap_or("file")))
}

fn commit(tmp: &Utf8Path, path: &Utf8Path) -> Result<()> {
    fs::rename(tmp, path).with_context(|| format!("could not rename '{tmp}' to '{path}'"))?;
    // The rename itself is durable only once the directory is.
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(if dir.as_str().is_empty() { Utf8Path::new(".") } else { dir }) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> camino::Utf8PathBuf {
        let d = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_replace_whole_files_with_their_mode_and_leave_no_temp() {
        let d = scratch("write");
        let p = d.join("secret.env");
        fs::write(&p, "old and longer than the new text").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&p, "new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600, "the old file's wider mode is not kept");
        write_atomic(&d.join("unit"), b"x", 0o644).unwrap();
        assert_eq!(fs::metadata(d.join("unit")).unwrap().mode() & 0o777, 0o644);
        copy_atomic(&p, &d.join("copy"), 0o755).unwrap();
        assert_eq!(fs::read_to_string(d.join("copy")).unwrap(), "new");
        assert_eq!(fs::metadata(d.join("copy")).unwrap().mode() & 0o777, 0o755);
        symlink_atomic(Utf8Path::new("secret.env"), &d.join("link")).unwrap();
        symlink_atomic(Utf8Path::new("copy"), &d.join("link")).unwrap();
        assert_eq!(fs::read_link(d.join("link")).unwrap().to_str(), Some("copy"));
        let names: Vec<String> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_planted_temp_name_is_replaced_not_written_through() {
        let d = scratch("planted");
        let victim = d.join("victim");
        fs::write(&victim, "keep").unwrap();
        // Someone who could write the directory points the temp name elsewhere.
        std::os::unix::fs::symlink(&victim, d.join(".secret.env.tmp")).unwrap();
        write_private(&d.join("secret.env"), "s3cret").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(fs::read_to_string(d.join("secret.env")).unwrap(), "s3cret");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_fresh_dir_is_never_one_already_there() {
        let d = scratch("fresh");
        // What another user could plant at the first name: a directory, and a symlink to one.
        fs::create_dir(d.join("ca-1")).unwrap();
        fs::create_dir(d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join("ca-2")).unwrap();
        let got = fresh_dir_among(&d, ["ca-1", "ca-2", "ca-3"].map(String::from).into_iter()).unwrap();
        assert_eq!(got, d.join("ca-3"));
        assert_eq!(fs::symlink_metadata(&got).unwrap().mode() & 0o777, 0o700);
        assert!(fresh_dir_among(&d, ["ca-1", "ca-2"].map(String::from).into_iter()).is_err(), "no name left: an error, not a reused dir");
        let a = fresh_private_dir(&d, "ca").unwrap();
        let b = fresh_private_dir(&d, "ca").unwrap();
        assert_ne!(a, b);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn output_dirs_others_can_write_are_refused_unless_sticky() {
        assert!(safe_dir(0, 0o40755, 0), "root's own directory");
        assert!(safe_dir(0, 0o41777, 0), "/tmp: sticky");
        assert!(safe_dir(1000, 0o40700, 1000), "our own directory when not root");
        assert!(!safe_dir(0, 0o40777, 0), "world-writable, not sticky");
        assert!(!safe_dir(0, 0o40775, 0), "group-writable, not sticky");
        assert!(!safe_dir(1000, 0o40755, 0), "a user's home: its owner can swap names in it");
        assert!(!safe_dir(1000, 0o41777, 0), "sticky, but its owner can still remove entries");
    }

    #[test]
    fn private_dirs_get_their_mode() {
        let d = scratch("dir");
        let p = d.join("a/b");
        private_dir(&p, 0o700).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o700);
        let _ = fs::remove_dir_all(&d);
    }
}
