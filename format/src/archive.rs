//! Verified, streaming extraction of `payload.tar.zst`.
//!
//! One pass: bytes are hashed as they are read, decompressed and unpacked into
//! a staging directory beside the target. Only when the whole payload has
//! been read and its sha256 matches is the staging directory renamed into
//! place; on any error it is removed. The three stages run on three threads
//! (see `read_verified`), so the pass takes about as long as its slowest stage.
//! Memory stays bounded (fixed buffers plus the zstd window) whatever the
//! payload size.
//!
//! Entries are refused, not skipped, when they could touch anything outside
//! the target: absolute paths, `..`, paths through a symlink, links that
//! escape or pass through another link, entries over an existing symlink,
//! device files and FIFOs. Every create and chmod is relative to a directory
//! opened without following links (see `Tree`).

use anyhow::{bail, Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use rustix::fs::{fchmod, linkat, mkdirat, openat, statat, symlinkat, AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use crate::error::{ExitCode, Failure};
use crate::hashing::HashingReader;
use crate::readahead::{self, ChunkReader};

/// The largest zstd window we accept (k3s's own decoder caps it at 32 MiB; we
/// allow 128 MiB so a payload made with `--long` still unpacks, and memory stays bounded).
const MAX_WINDOW_LOG: u32 = 27;

/// What the payload must hash to.
#[derive(Clone, Debug)]
pub struct Expected {
    pub sha256: String,
    pub size: u64,
}

/// One entry as `--list` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Listed {
    pub path: String,
    pub kind: &'static str,
    pub mode: u32,
    pub size: u64,
}

/// Lists the payload's entries, then checks its hash. Entries that extraction
/// would refuse are listed and then reported as an error.
pub fn list(reader: impl Read + Send, expected: &Expected) -> Result<Vec<Listed>> {
    read_verified(reader, expected, |tar_stream| {
        let mut out = Vec::new();
        let mut archive = tar::Archive::new(tar_stream);
        for entry in archive.entries().context("could not read the payload archive")? {
            let entry = entry.context("could not read an entry of the payload archive")?;
            let path = entry_path(&entry)?;
            out.push(Listed {
                path: path.as_str().trim_end_matches('/').to_string(),
                kind: kind_name(entry.header().entry_type()),
                mode: entry.header().mode().unwrap_or(0),
                size: entry.header().size().unwrap_or(0),
            });
        }
        Ok(out)
    })
}

/// Verifies the payload without writing anything.
pub fn verify(reader: impl Read, expected: &Expected) -> Result<()> {
    check_digest(HashingReader::new(reader), expected)
}

/// Extracts into `target`, which must not exist or be an empty directory.
pub fn extract(reader: impl Read + Send, expected: &Expected, target: &Utf8Path) -> Result<u64> {
    if target.exists() {
        let mut entries = fs::read_dir(target).with_context(|| format!("could not read '{target}'"))?;
        if entries.next().is_some() {
            bail!(Failure::new(ExitCode::Failed, format!("'{target}' exists and is not empty")).help("choose a new or empty directory"));
        }
    }
    // A damaged payload is found only while it is read: the directories made
    // for it go again with it, so a refused file leaves the host as it was.
    let made = missing_ancestors(target);
    let forget = |staging: &Utf8Path| {
        let _ = fs::remove_dir_all(staging);
        for dir in &made {
            let _ = fs::remove_dir(dir);
        }
    };
    let staging = staging_dir(target)?;
    let result = unpack_into(reader, expected, &staging);
    match result {
        Ok(files) => {
            if target.exists() {
                fs::remove_dir(target).with_context(|| format!("could not replace empty '{target}'"))?;
            }
            fs::rename(&staging, target).with_context(|| format!("could not move '{staging}' to '{target}'")).inspect_err(|_| forget(&staging))?;
            Ok(files)
        }
        Err(e) => {
            forget(&staging);
            Err(e)
        }
    }
}

/// The ancestors of TARGET that do not exist yet, deepest first.
fn missing_ancestors(target: &Utf8Path) -> Vec<Utf8PathBuf> {
    target.ancestors().skip(1).filter(|p| !p.as_str().is_empty()).take_while(|p| fs::symlink_metadata(p).is_err()).map(Utf8Path::to_path_buf).collect()
}

fn staging_dir(target: &Utf8Path) -> Result<Utf8PathBuf> {
    let parent = match target.parent() {
        Some(p) if !p.as_str().is_empty() => p.to_path_buf(),
        _ => Utf8PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("could not create '{parent}'"))?;
    let name = target.file_name().unwrap_or("payload");
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("could not remove stale '{staging}'"))?;
    }
    fs::create_dir(&staging).with_context(|| format!("could not create '{staging}'"))?;
    fs::set_permissions(&staging, fs::Permissions::from_mode(0o700)).with_context(|| format!("could not set the mode of '{staging}'"))?;
    Ok(staging)
}

fn unpack_into(reader: impl Read + Send, expected: &Expected, staging: &Utf8Path) -> Result<u64> {
    let mut tree = Tree::open(staging)?;
    let mut files = 0;
    let mut buf = vec![0; readahead::CHUNK];
    read_verified(reader, expected, |tar_stream| {
        let mut archive = tar::Archive::new(tar_stream);
        for entry in archive.entries().context("could not read the payload archive")? {
            let mut entry = entry.context("could not read an entry of the payload archive")?;
            let rel = entry_path(&entry)?;
            if !tree.unpack(&mut entry, &rel, &mut buf)? {
                files += 1;
            }
        }
        Ok(())
    })?;
    tree.finish()?;
    Ok(files)
}

/// Runs `consume` on the payload's tar stream, then checks the payload's hash.
/// Like `zstd -dc | tar -x`, but with the hash and on threads: one reads and
/// hashes, one decompresses, and this one runs `consume` (parses the tar and
/// writes files), each working on a later chunk while the next stage
/// handles an earlier one.
fn read_verified<T>(reader: impl Read + Send, expected: &Expected, consume: impl FnOnce(&mut ChunkReader) -> Result<T>) -> Result<T> {
    std::thread::scope(|scope| {
        let (compressed, hashed) = readahead::spawn(scope, HashingReader::new(reader));
        let (mut tar_stream, decompressed) = readahead::spawn(scope, decoder(compressed)?);
        let consumed = consume(&mut tar_stream).and_then(|value| drain(&mut tar_stream).map(|()| value));
        drop(tar_stream);
        // The decoder holds the hashing stage's reader: drop it so that stage can end.
        let decompressed = decompressed.join().expect("bug: the decompressing thread panicked").map(drop);
        let hashed = hashed.join().expect("bug: the hashing thread panicked");
        // The earliest stage that failed by itself (not because a later one stopped reading) has the cause.
        let hashing = match hashed {
            Ok(hashing) => Some(hashing),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => None,
            Err(e) => return Err(anyhow::Error::new(e).context("could not read the payload")),
        };
        match decompressed {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                return Err(anyhow::Error::new(e).context("could not decompress the payload"));
            }
            _ => {}
        }
        let value = consumed?;
        let hashing = hashing.context("bug: the payload was not read to its end")?;
        check_digest(hashing, expected)?;
        Ok(value)
    })
}

fn decoder<'a, R: BufRead>(reader: R) -> Result<zstd::stream::read::Decoder<'a, R>> {
    let mut d = zstd::stream::read::Decoder::with_buffer(reader).context("could not start the zstd decoder")?;
    d.window_log_max(MAX_WINDOW_LOG).context("could not limit the zstd window")?;
    Ok(d)
}

/// Reads what tar left unread (end-of-archive blocks, the zstd epilogue) so it is hashed too.
fn drain<R: Read>(mut decoder: R) -> Result<()> {
    io::copy(&mut decoder, &mut io::sink()).context("the payload archive is damaged after its last entry")?;
    Ok(())
}

fn check_digest<R: Read>(hashing: HashingReader<R>, expected: &Expected) -> Result<()> {
    let (digest, bytes) = hashing.finish().context("could not read the payload")?;
    if bytes != expected.size || digest != expected.sha256 {
        bail!(Failure::new(
            ExitCode::BadBundle,
            format!("the payload is damaged: sha256 {digest} over {bytes} bytes, expected {} over {} bytes", expected.sha256, expected.size)
        )
        .help("copy the installer again and compare its sha256 with the one the vendor published"));
    }
    Ok(())
}

/// A payload entry's path, refused unless it is plain and relative.
fn entry_path<R: Read>(entry: &tar::Entry<R>) -> Result<Utf8PathBuf> {
    let raw = entry.path().context("an entry of the payload archive has an unreadable name")?;
    let path = Utf8PathBuf::from_path_buf(raw.into_owned()).map_err(|p| refused(&p.display().to_string(), "the name is not UTF-8"))?;
    check_relative(path.as_std_path()).map_err(|why| refused(path.as_str(), why))?;
    Ok(path)
}

/// Accepts only `a/b/c` (and `./a`): no root, no `..`, not empty.
fn check_relative(path: &Path) -> std::result::Result<(), &'static str> {
    let mut normal = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => normal += 1,
            Component::CurDir => {}
            Component::ParentDir => return Err("it contains '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("it is an absolute path"),
        }
    }
    if normal == 0 {
        return Err("it names no file");
    }
    Ok(())
}

fn refused(path: &str, why: &str) -> anyhow::Error {
    Failure::new(ExitCode::BadBundle, format!("refusing payload entry '{path}': {why}"))
        .help("this bundle was not made by the floppies build; do not install it")
        .into()
}

/// The staging directory, opened once: every entry is created relative to a
/// directory descriptor reached from it without following any symlink, so no
/// entry, and no chmod, can land outside it whatever links came before.
struct Tree {
    root: OwnedFd,
    /// Directories and the mode each gets once everything is unpacked.
    dirs: Vec<(Utf8PathBuf, u32)>,
    /// Symlinks made so far (path, target), checked again against the final tree.
    links: Vec<(Utf8PathBuf, Utf8PathBuf)>,
}

impl Tree {
    fn open(staging: &Utf8Path) -> Result<Tree> {
        let root = open_dir(CWD, staging.as_str()).with_context(|| format!("could not open '{staging}'"))?;
        Ok(Tree { root, dirs: Vec::new(), links: Vec::new() })
    }

    /// Unpacks one entry; true for a directory. `buf` carries file data, in writes as large as it.
    fn unpack<R: Read>(&mut self, entry: &mut tar::Entry<R>, rel: &Utf8Path, buf: &mut [u8]) -> Result<bool> {
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let (dir, name) = self.parent_of(rel, true)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                match kind_at(&dir, &name) {
                    None => mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o700)).with_context(|| format!("could not create '{rel}'"))?,
                    Some(FileType::Directory) => {}
                    Some(FileType::Symlink) => bail!(refused(rel.as_str(), "its destination is an existing symlink")),
                    Some(_) => bail!(refused(rel.as_str(), "its destination is an existing file")),
                }
                self.dirs.push((rel.to_path_buf(), mode | 0o700));
                Ok(true)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = openat(&dir, name.as_str(), flags, Mode::from_raw_mode(0o600)).map_err(|e| self.exists_error(&dir, &name, rel, e))?;
                let mut file = fs::File::from(fd);
                copy_with(entry, &mut file, buf).with_context(|| format!("could not write '{rel}'"))?;
                file.set_permissions(fs::Permissions::from_mode(mode)).with_context(|| format!("could not set the mode of '{rel}'"))?;
                Ok(false)
            }
            tar::EntryType::Symlink => {
                let target = link_target(entry, rel)?;
                self.check_link(rel, &target)?;
                symlinkat(target.as_str(), &dir, name.as_str()).map_err(|e| self.exists_error(&dir, &name, rel, e))?;
                self.links.push((rel.to_path_buf(), target));
                Ok(false)
            }
            tar::EntryType::Link => {
                let target = link_target(entry, rel)?;
                let invalid = |why: &str| refused(rel.as_str(), &format!("its hard link target '{target}' {why}"));
                check_relative(target.as_std_path()).map_err(|why| invalid(&format!("is invalid: {why}")))?;
                let (source_dir, source_name) = self.parent_of(&target, false).map_err(|_| invalid("is not in the payload"))?;
                match kind_at(&source_dir, &source_name) {
                    Some(FileType::RegularFile) => {}
                    None => bail!(invalid("is not in the payload")),
                    Some(_) => bail!(invalid("is not a plain file")),
                }
                linkat(&source_dir, source_name.as_str(), &dir, name.as_str(), AtFlags::empty()).map_err(|e| self.exists_error(&dir, &name, rel, e))?;
                Ok(false)
            }
            other => bail!(refused(rel.as_str(), &format!("it is a {}", kind_name(other)))),
        }
    }

    /// Checks every link against the finished tree (a later link may sit on
    /// the path of an earlier one), then gives directories their modes,
    /// deepest first so a read-only directory does not block its own entries.
    fn finish(&self) -> Result<()> {
        for (rel, target) in &self.links {
            self.check_link(rel, target)?;
        }
        for (rel, mode) in self.dirs.iter().rev() {
            let (parent, name) = self.parent_of(rel, false)?;
            let dir = open_dir(&parent, name.as_str()).with_context(|| format!("could not open '{rel}'"))?;
            fchmod(&dir, Mode::from_raw_mode(*mode)).with_context(|| format!("could not set the mode of '{rel}'"))?;
        }
        Ok(())
    }

    /// Opens the directory that holds `rel`'s last component, creating missing
    /// parents (0700 until `finish`) when `create`; refuses a parent that is a
    /// symlink or not a directory.
    fn parent_of(&self, rel: &Utf8Path, create: bool) -> Result<(OwnedFd, String)> {
        let names: Vec<&str> = rel.components().filter_map(|c| if let Utf8Component::Normal(n) = c { Some(n) } else { None }).collect();
        let (last, parents) = names.split_last().ok_or_else(|| refused(rel.as_str(), "it names no file"))?;
        let mut dir = open_dir(&self.root, ".").context("could not open the staging directory")?;
        for name in parents {
            dir = match open_dir(&dir, name) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    mkdirat(&dir, *name, Mode::from_raw_mode(0o700)).with_context(|| format!("could not create a parent of '{rel}'"))?;
                    open_dir(&dir, name).with_context(|| format!("could not open a parent of '{rel}'"))?
                }
                Err(e) => match kind_at(&dir, name) {
                    Some(FileType::Symlink) => bail!(refused(rel.as_str(), "it would be written through a symlink")),
                    Some(FileType::Directory) | None => {
                        return Err(anyhow::Error::new(io::Error::from(e)).context(format!("could not open a parent of '{rel}'")))
                    }
                    Some(_) => bail!(refused(rel.as_str(), "a parent of it is not a directory")),
                },
            };
        }
        Ok((dir, last.to_string()))
    }

    /// Refuses a link that leaves the tree: its target, resolved from the
    /// link's directory, must stay inside and must not pass through a link
    /// already on disk (only its last component may be one, itself checked),
    /// so the lexical resolution checked here is the one the kernel makes.
    fn check_link(&self, rel: &Utf8Path, target: &Utf8Path) -> Result<()> {
        let outside = || refused(rel.as_str(), &format!("its link target '{target}' is outside the payload"));
        if target.is_absolute() {
            bail!(outside());
        }
        let full = rel.parent().unwrap_or(Utf8Path::new("")).join(target);
        let parts: Vec<_> = full.components().collect();
        let mut at = Utf8PathBuf::new();
        for (i, c) in parts.iter().enumerate() {
            match c {
                Utf8Component::Normal(n) => {
                    at.push(n);
                    if i + 1 < parts.len() && kind_at(&self.root, at.as_str()) == Some(FileType::Symlink) {
                        bail!(refused(rel.as_str(), &format!("its link target '{target}' passes through the link '{at}'")));
                    }
                }
                Utf8Component::CurDir => {}
                Utf8Component::ParentDir => {
                    if !at.pop() {
                        bail!(outside());
                    }
                }
                Utf8Component::RootDir | Utf8Component::Prefix(_) => bail!(outside()),
            }
        }
        Ok(())
    }

    /// The error for a create that failed: refused if something is in the way.
    fn exists_error(&self, dir: &OwnedFd, name: &str, rel: &Utf8Path, e: Errno) -> anyhow::Error {
        match kind_at(dir, name) {
            Some(FileType::Symlink) => refused(rel.as_str(), "its destination is an existing symlink"),
            Some(_) => refused(rel.as_str(), "it is a duplicate entry"),
            None => anyhow::Error::new(io::Error::from(e)).context(format!("could not create '{rel}'")),
        }
    }
}

fn open_dir(parent: impl AsFd, name: &str) -> rustix::io::Result<OwnedFd> {
    openat(parent, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
}

/// What is at `name` under `dir`, not following a final symlink; None if nothing.
fn kind_at(dir: impl AsFd, name: &str) -> Option<FileType> {
    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok().map(|st| FileType::from_raw_mode(st.st_mode))
}

/// Copies `from` to `to` through `buf` (`io::copy` would use 8 KiB writes).
fn copy_with(from: &mut impl Read, to: &mut impl Write, buf: &mut [u8]) -> io::Result<()> {
    loop {
        match from.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn link_target<R: Read>(entry: &tar::Entry<R>, rel: &Utf8Path) -> Result<Utf8PathBuf> {
    let target = entry
        .link_name()
        .context("an entry of the payload archive has an unreadable link target")?
        .ok_or_else(|| refused(rel.as_str(), "it is a link without a target"))?;
    Utf8PathBuf::from_path_buf(target.into_owned()).map_err(|_| refused(rel.as_str(), "its link target is not UTF-8"))
}

fn kind_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Regular | tar::EntryType::Continuous => "file",
        tar::EntryType::Directory => "directory",
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special entry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::sha256_of;

    /// Builds a tar.zst by hand, bypassing the tar crate's own name checks.
    fn payload(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> (Vec<u8>, Expected) {
        let mut tar_bytes = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar_bytes);
            for (name, kind, data, link) in entries {
                let mut h = tar::Header::new_gnu();
                {
                    let raw = h.as_old_mut();
                    raw.name[..name.len()].copy_from_slice(name.as_bytes());
                    raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
                }
                h.set_entry_type(*kind);
                h.set_mode(if *kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            b.finish().unwrap();
        }
        let z = zstd::encode_all(&tar_bytes[..], 3).unwrap();
        let (sha256, size) = sha256_of(&z[..]).unwrap();
        (z, Expected { sha256, size })
    }

    /// A scratch dir inside a private dir under the system temp dir (so what
    /// lands beside it is this test's doing), both removed when dropped.
    struct Tmp(Utf8PathBuf);

    impl std::ops::Deref for Tmp {
        type Target = Utf8PathBuf;
        fn deref(&self) -> &Utf8PathBuf {
            &self.0
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(self.0.parent().expect("scratch has a parent"));
        }
    }

    fn tmp() -> Tmp {
        let id = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let root = std::env::temp_dir().join(format!("floppies-archive-test-{}-{id}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("scratch")).unwrap();
        Tmp(Utf8PathBuf::from_path_buf(root.join("scratch")).unwrap())
    }

    use tar::EntryType::{Directory as D, Link as L, Regular as F, Symlink as S};

    #[test]
    fn good_payload_extracts_and_commits() {
        let (z, exp) = payload(&[
            ("manifest.json", F, b"{}", ""),
            ("k3s/", D, b"", ""),
            ("k3s/k3s", F, b"bin", ""),
            ("k3s/link", S, b"", "k3s"),
            ("k3s/hard", L, b"", "k3s/k3s"),
        ]);
        let base = tmp();
        let target = base.join("out");
        assert_eq!(extract(&z[..], &exp, &target).unwrap(), 4);
        assert_eq!(fs::read(target.join("k3s/k3s")).unwrap(), b"bin");
        assert_eq!(fs::read(target.join("k3s/link")).unwrap(), b"bin");
        assert_eq!(fs::read_dir(&base.0).unwrap().count(), 1, "no staging dir left");
    }

    fn refuses(entries: &[(&str, tar::EntryType, &[u8], &str)], why: &str) {
        let (z, exp) = payload(entries);
        let base = tmp();
        let target = base.join("out");
        let err = format!("{:#}", extract(&z[..], &exp, &target).unwrap_err());
        assert!(err.contains(why), "expected '{why}' in: {err}");
        assert!(!target.exists(), "nothing committed");
        assert_eq!(fs::read_dir(&base.0).unwrap().count(), 0, "staging removed");
        assert!(!base.parent().unwrap().join("x").exists(), "nothing written beside the target");
    }

    #[test]
    fn parent_dir_entry_is_refused() {
        refuses(&[("../x", F, b"evil", "")], "refusing payload entry '../x': it contains '..'");
    }

    #[test]
    fn absolute_entry_is_refused() {
        refuses(&[("/etc/x", F, b"evil", "")], "refusing payload entry '/etc/x': it is an absolute path");
    }

    #[test]
    fn escaping_symlinks_are_refused() {
        refuses(&[("a/", D, b"", ""), ("a/l", S, b"", "../../etc")], "outside the payload");
        refuses(&[("l", S, b"", "/etc/passwd")], "outside the payload");
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        refuses(&[("d/", D, b"", ""), ("l", S, b"", "d"), ("l/x", F, b"x", "")], "through a symlink");
    }

    #[test]
    fn link_chains_through_other_links_are_refused() {
        // `d/e -> s/s/../..` is inside by its text, but with `d/s -> .` it resolves to the target's parent.
        let chain = [("d/", D, &b""[..], ""), ("d/s", S, b"", "."), ("d/e", S, b"", "s/s/../..")];
        refuses(&chain, "passes through the link 'd/s'");
        // The other order: the chain is made before the link it runs through.
        refuses(&[("d/", D, b"", ""), ("d/e", S, b"", "s/s/../.."), ("d/s", S, b"", ".")], "passes through the link 'd/s'");
    }

    #[test]
    fn a_directory_entry_over_a_link_chain_changes_nothing_outside() {
        // The staging dir sits in `base`: `d/e` resolves to `base`, `d/f` to its parent.
        let base = tmp();
        let outside = [base.as_std_path(), base.parent().unwrap().as_std_path()];
        for dir in outside {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).unwrap();
        }
        let (z, exp) = payload(&[
            ("d/", D, b"", ""),
            ("d/s", S, b"", "."),
            ("d/e", S, b"", "s/s/../.."),
            ("d/f", S, b"", "s/s/s/../../.."),
            ("d/e/", D, b"", ""),
            ("d/f/", D, b"", ""),
        ]);
        assert!(extract(&z[..], &exp, &base.join("out")).is_err());
        for dir in outside {
            assert_eq!(fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o711, "'{}' was chmodded", dir.display());
        }
    }

    #[test]
    fn entries_over_an_existing_symlink_are_refused() {
        refuses(&[("d/", D, b"", ""), ("l", S, b"", "d"), ("l/", D, b"", "")], "its destination is an existing symlink");
        refuses(&[("d/", D, b"", ""), ("l", S, b"", "d"), ("l", F, b"x", "")], "its destination is an existing symlink");
    }

    #[test]
    fn hard_link_outside_is_refused() {
        refuses(&[("h", L, b"", "../etc/passwd")], "hard link target");
    }

    #[test]
    fn device_files_and_fifos_are_refused() {
        refuses(&[("dev", tar::EntryType::Char, b"", "")], "character device");
        refuses(&[("fifo", tar::EntryType::Fifo, b"", "")], "FIFO");
    }

    #[test]
    fn hash_mismatch_commits_nothing() {
        let (z, mut exp) = payload(&[("a", F, b"data", "")]);
        exp.sha256 = "00".repeat(32);
        let base = tmp();
        let err = format!("{:#}", extract(&z[..], &exp, &base.join("out")).unwrap_err());
        assert!(err.contains("the payload is damaged"), "{err}");
        assert_eq!(fs::read_dir(&base.0).unwrap().count(), 0);
    }

    #[test]
    fn a_damaged_payload_leaves_no_directory_it_made() {
        let (z, mut exp) = payload(&[("a", F, b"data", "")]);
        exp.sha256 = "00".repeat(32);
        let base = tmp();
        fs::create_dir(base.join("kept")).unwrap();
        // As install's /opt/floppies/releases/VERSION on a new host: two levels made for it.
        let err = format!("{:#}", extract(&z[..], &exp, &base.join("kept/opt/releases/1.0")).unwrap_err());
        assert!(err.contains("the payload is damaged"), "{err}");
        assert!(!base.join("kept/opt").exists(), "the directories made for the payload are left behind");
        assert!(base.join("kept").is_dir(), "a directory that was there before is gone");
        let (z, exp) = payload(&[("a", F, b"data", "")]);
        extract(&z[..], &exp, &base.join("kept/opt/releases/1.0")).unwrap();
        assert!(base.join("kept/opt/releases/1.0/a").is_file(), "a good payload keeps what it needs");
    }

    #[test]
    fn flipped_byte_is_caught() {
        let (mut z, exp) = payload(&[("a", F, &[7u8; 10000], "")]);
        let mid = z.len() / 2;
        z[mid] ^= 0x01;
        let base = tmp();
        assert!(extract(&z[..], &exp, &base.join("out")).is_err());
        assert!(verify(&z[..], &exp).is_err());
        assert_eq!(fs::read_dir(&base.0).unwrap().count(), 0);
    }

    #[test]
    fn list_reports_entries_and_checks_hash() {
        let (z, exp) = payload(&[("manifest.json", F, b"{}", ""), ("x", F, b"abc", "")]);
        let items = list(&z[..], &exp).unwrap();
        assert_eq!(items.iter().map(|i| i.path.as_str()).collect::<Vec<_>>(), ["manifest.json", "x"]);
        assert_eq!(items[1].size, 3);
    }

    #[test]
    fn non_empty_target_is_refused() {
        let (z, exp) = payload(&[("a", F, b"data", "")]);
        let base = tmp();
        fs::write(base.join("keep"), b"mine").unwrap();
        assert!(extract(&z[..], &exp, &base.0).is_err());
        assert_eq!(fs::read(base.join("keep")).unwrap(), b"mine");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Every path under DIR (not following links) with its kind and mode, skipping SKIP.
        fn snapshot(dir: &Path, skip: &Path, out: &mut Vec<(std::path::PathBuf, u32, bool)>) {
            use std::os::unix::fs::MetadataExt;
            for e in fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.starts_with(skip) {
                    continue;
                }
                let m = fs::symlink_metadata(&p).unwrap();
                out.push((p.clone(), m.mode(), m.is_dir()));
                if m.is_dir() {
                    snapshot(&p, skip, out);
                }
            }
        }

        // Few names, so entries often meet: links through links, entries over links.
        fn path() -> impl Strategy<Value = String> {
            proptest::collection::vec(prop_oneof![Just("d"), Just("s"), Just("e")], 1..4).prop_map(|c| c.join("/"))
        }

        fn link_target() -> impl Strategy<Value = String> {
            proptest::collection::vec(prop_oneof![Just("s"), Just("e"), Just(".."), Just(".")], 1..6).prop_map(|c| c.join("/"))
        }

        fn entry() -> impl Strategy<Value = (String, tar::EntryType, String)> {
            prop_oneof![
                path().prop_map(|p| (format!("{p}/"), D, String::new())),
                path().prop_map(|p| (p, F, String::new())),
                (path(), link_target()).prop_map(|(p, t)| (p, S, t)),
                (path(), path()).prop_map(|(p, t)| (p, L, t)),
            ]
        }

        /// Entries, random or in the shape that makes a link chain: `D/S -> .`,
        /// `D/E -> S/S.../../..` (K hops), then an entry over `D/E`, or none
        /// (so the chain itself is committed unless the link check refuses it).
        fn entries() -> impl Strategy<Value = Vec<(String, tar::EntryType, String)>> {
            let gadget = (path(), 1usize..4, prop_oneof![Just(Some(D)), Just(Some(F)), Just(None)], any::<bool>()).prop_map(|(d, k, over, reverse)| {
                let hops = format!("{}{}", "s/".repeat(k), vec![".."; k + 1].join("/"));
                let mut links = vec![(format!("{d}/s"), S, ".".to_string()), (format!("{d}/e"), S, hops)];
                if reverse {
                    links.reverse();
                }
                let mut out = vec![(format!("{d}/"), D, String::new())];
                out.extend(links);
                match over {
                    Some(D) => out.push((format!("{d}/e/"), D, String::new())),
                    Some(kind) => out.push((format!("{d}/e/x"), kind, String::new())),
                    None => {}
                }
                out
            });
            proptest::collection::vec(prop_oneof![3 => entry().prop_map(|e| vec![e]), 1 => gadget], 1..8).prop_map(|v| v.into_iter().flatten().collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever the entries: nothing outside the target changes, and
            /// every link in a committed tree resolves inside it (or nowhere).
            #[test]
            fn nothing_outside_changes_and_no_link_leaves(entries in entries()) {
                let owned: Vec<(String, tar::EntryType, Vec<u8>, String)> = entries.into_iter().map(|(n, k, t)| (n, k, if k == F { b"x".to_vec() } else { vec![] }, t)).collect();
                let refs: Vec<(&str, tar::EntryType, &[u8], &str)> = owned.iter().map(|(n, k, d, t)| (n.as_str(), *k, d.as_slice(), t.as_str())).collect();
                let (z, exp) = payload(&refs);
                let base = tmp();
                let outside = base.parent().unwrap().as_std_path().to_path_buf();
                // Something outside for a chain to reach, with modes no entry sets (entries get 0755/0644).
                fs::create_dir_all(outside.join("victim")).unwrap();
                fs::write(outside.join("victim/file"), "v").unwrap();
                for dir in [outside.as_path(), base.as_std_path(), &outside.join("victim")] {
                    fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).unwrap();
                }
                let mode_of = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode();
                let outside_mode = mode_of(&outside);
                let target = base.join("out");
                let mut before = Vec::new();
                snapshot(&outside, target.as_std_path(), &mut before);
                let result = extract(&z[..], &exp, &target);
                let mut after = Vec::new();
                snapshot(&outside, target.as_std_path(), &mut after);
                prop_assert_eq!(&before, &after, "something outside the target changed ({:?})", result.as_ref().err().map(|e| format!("{e:#}")));
                prop_assert_eq!(outside_mode, mode_of(&outside));
                if result.is_ok() {
                    let root = fs::canonicalize(&target).unwrap();
                    let mut inside = Vec::new();
                    snapshot(target.as_std_path(), Path::new("/nonexistent"), &mut inside);
                    for (p, _, _) in inside {
                        if fs::symlink_metadata(&p).unwrap().file_type().is_symlink() {
                            if let Ok(real) = fs::canonicalize(&p) {
                                prop_assert!(real.starts_with(&root), "{} resolves to {}", p.display(), real.display());
                            }
                        }
                    }
                }
            }
        }
    }
}
