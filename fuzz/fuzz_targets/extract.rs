//! Payload extraction, on archives of any entries (names and link targets
//! from a few components, so they meet: links through links, entries over
//! links; or raw bytes), any entry type, GNU long names and pax paths: nothing
//! outside the target changes, a refused or mis-hashed payload commits
//! nothing and leaves no staging dir, and no link in a committed tree
//! resolves outside it.
#![no_main]

use floppies_format::archive::{extract, Expected};
use floppies_format::hashing::sha256_of;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const PARTS: &[&str] = &["d", "s", "e", "..", ".", ""];

#[derive(Arbitrary, Debug)]
enum Name {
    /// Components from PARTS joined by '/', with a trailing '/' if asked.
    Parts(Vec<u8>, bool),
    Raw(Vec<u8>),
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Parts(parts, slash) => {
                let mut s = parts.iter().take(8).map(|p| PARTS[*p as usize % PARTS.len()]).collect::<Vec<_>>().join("/");
                if *slash {
                    s.push('/');
                }
                s.into_bytes()
            }
            Name::Raw(raw) => raw.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// Any type byte (devices, FIFOs, GNU and pax extensions, ...).
    Other(u8),
}

#[derive(Arbitrary, Debug)]
struct Entry {
    name: Name,
    kind: Kind,
    link: Name,
    mode: u16,
    data: Vec<u8>,
    /// A GNU long-name entry ('L') before this one, naming it instead.
    long_name: Option<Name>,
    /// A pax header ('x') before this one, with `path=` and `linkpath=`.
    pax: Option<(Option<Name>, Option<Name>)>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    entries: Vec<Entry>,
    /// The expected hash is wrong: nothing may be committed.
    wrong_hash: bool,
}

fn raw_header(name: &[u8], kind: u8, link: &[u8], mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let raw = h.as_old_mut();
        let n = name.len().min(raw.name.len());
        raw.name[..n].copy_from_slice(&name[..n]);
        let n = link.len().min(raw.linkname.len());
        raw.linkname[..n].copy_from_slice(&link[..n]);
    }
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_mode(mode);
    h.set_size(size);
    h.set_cksum();
    h
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "LEN key=value\n", LEN counting itself.
    let body = [format!(" {key}=").as_bytes(), value, b"\n"].concat();
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len += 1;
    }
    [format!("{len}").as_bytes(), &body].concat()
}

/// The archive as bytes, the tar crate's own name checks bypassed (as a hostile build would).
fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = tar::Builder::new(&mut out);
    for e in entries.iter().take(16) {
        if let Some(long) = &e.long_name {
            let name = long.bytes();
            b.append(&raw_header(b"././@LongLink", b'L', b"", 0o644, name.len() as u64), &name[..]).unwrap();
        }
        if let Some((path, linkpath)) = &e.pax {
            let mut records = Vec::new();
            if let Some(p) = path {
                records.extend(pax_record("path", &p.bytes()));
            }
            if let Some(l) = linkpath {
                records.extend(pax_record("linkpath", &l.bytes()));
            }
            b.append(&raw_header(b"pax", b'x', b"", 0o644, records.len() as u64), &records[..]).unwrap();
        }
        let kind = match e.kind {
            Kind::File => b'0',
            Kind::Dir => b'5',
            Kind::Symlink => b'2',
            Kind::HardLink => b'1',
            Kind::Other(k) => k,
        };
        let data: &[u8] = if kind == b'0' { &e.data[..e.data.len().min(64)] } else { &[] };
        b.append(&raw_header(&e.name.bytes(), kind, &e.link.bytes(), u32::from(e.mode), data.len() as u64), data).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    out
}

/// Every path under DIR (not following links) with its mode, owner and size, skipping SKIP.
fn snapshot(dir: &Path, skip: &Path, out: &mut Vec<(PathBuf, u32, u32, u64)>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.starts_with(skip) {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        out.push((p.clone(), m.mode(), m.uid(), if m.is_dir() { 0 } else { m.size() }));
        if m.is_dir() {
            snapshot(&p, skip, out);
        }
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode()
}

fuzz_target!(|input: Input| {
    let tar_bytes = archive(&input.entries);
    let z = zstd::encode_all(&tar_bytes[..], 1).unwrap();
    let (sha256, size) = sha256_of(&z[..]).unwrap();
    let expected = Expected { sha256: if input.wrong_hash { "0".repeat(64) } else { sha256 }, size };

    // outside/ (mode 0711, with a victim/ a chain could reach), outside/base/, target outside/base/out.
    let tmp = std::env::temp_dir();
    let outside = tmp.join(format!("floppies-fuzz-extract-{}", std::process::id()));
    let _ = fs::remove_dir_all(&outside);
    fs::create_dir_all(outside.join("victim")).unwrap();
    fs::create_dir_all(outside.join("base")).unwrap();
    fs::write(outside.join("victim/file"), "v").unwrap();
    for dir in [outside.clone(), outside.join("base"), outside.join("victim")] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o711)).unwrap();
    }
    let target = outside.join("base/out");
    let mut before = Vec::new();
    snapshot(&outside, &target, &mut before);
    let above = [mode(&outside), mode(&tmp), mode(Path::new("/"))];

    let result = extract(&z[..], &expected, camino::Utf8Path::from_path(&target).unwrap());

    let mut after = Vec::new();
    snapshot(&outside, &target, &mut after);
    assert_eq!(before, after, "something outside the target changed ({:?})", result.as_ref().err().map(|e| format!("{e:#}")));
    assert_eq!(above, [mode(&outside), mode(&tmp), mode(Path::new("/"))], "a directory above the target was chmodded");
    match result {
        Err(_) => assert!(!target.exists(), "a refused payload committed {}", target.display()),
        Ok(_) => {
            assert!(!input.wrong_hash, "a payload that does not hash to its sha256 was accepted");
            let root = fs::canonicalize(&target).unwrap();
            let mut inside = Vec::new();
            snapshot(&target, Path::new("/nonexistent"), &mut inside);
            for (p, ..) in inside {
                if fs::symlink_metadata(&p).unwrap().file_type().is_symlink() {
                    if let Ok(real) = fs::canonicalize(&p) {
                        assert!(real.starts_with(&root), "{} resolves to {}", p.display(), real.display());
                    }
                }
            }
        }
    }
    fs::remove_dir_all(&outside).unwrap();
});
