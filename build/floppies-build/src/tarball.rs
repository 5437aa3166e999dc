//! A deterministic tar.zst: `manifest.json` first, then every directory and
//! file sorted by path; mtime 0, uid/gid 0, no user or group names, modes
//! 0644/0755. The same inputs give the same bytes on any machine.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufWriter, Write};

use floppies_format::manifest;

/// zstd window cap: k3s's decoder refuses windows above 32 MiB (log 25).
pub const WINDOW_LOG: u32 = 25;

pub struct FileEntry {
    pub path: String,
    pub source: Utf8PathBuf,
    pub executable: bool,
}

/// Writes `manifest_json` and `files` to `out` (via a temp file and rename).
/// Opens an image archive as a tar stream, decompressing it by its magic
/// bytes: k3s's air-gap archive comes as .tar.zst (or .tar.gz), ours as .tar.
pub fn open_archive(path: &Utf8Path) -> Result<Box<dyn std::io::Read>> {
    use std::io::{BufRead, BufReader};
    let mut file = BufReader::new(fs::File::open(path).with_context(|| format!("could not open '{path}'"))?);
    let magic = file.fill_buf().with_context(|| format!("could not read '{path}'"))?;
    Ok(if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(file).with_context(|| format!("could not start decompressing '{path}'"))?)
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::GzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

pub fn write(out: &Utf8Path, manifest_json: &[u8], files: &mut [FileEntry], level: i32) -> Result<()> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let tmp = Utf8PathBuf::from(format!("{out}.tmp"));
    let file = fs::File::create(&tmp).with_context(|| format!("could not create '{tmp}'"))?;
    let mut encoder = zstd::stream::write::Encoder::new(BufWriter::with_capacity(1 << 20, file), level).context("could not start the zstd encoder")?;
    encoder.include_checksum(true).context("zstd checksum flag")?;
    if level >= 20 {
        // Ultra levels would otherwise pick a window larger than k3s accepts.
        encoder.window_log(WINDOW_LOG).context("zstd window")?;
    }
    {
        let mut tar = tar::Builder::new(&mut encoder);
        tar.mode(tar::HeaderMode::Deterministic);
        append(&mut tar, manifest::FILE_NAME, manifest_json.len() as u64, false, manifest_json)?;
        let mut dirs = BTreeSet::new();
        for f in files.iter() {
            let mut p = Utf8Path::new(&f.path).parent();
            while let Some(d) = p.filter(|d| !d.as_str().is_empty()) {
                dirs.insert(d.to_string());
                p = d.parent();
            }
        }
        let mut names: Vec<(String, Option<&FileEntry>)> = dirs.into_iter().map(|d| (d, None)).collect();
        names.extend(files.iter().map(|f| (f.path.clone(), Some(f))));
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, entry) in names {
            match entry {
                None => append_dir(&mut tar, &name)?,
                Some(f) => {
                    let src = fs::File::open(&f.source).with_context(|| format!("could not open '{}'", f.source))?;
                    let len = src.metadata().with_context(|| format!("could not stat '{}'", f.source))?.len();
                    append(&mut tar, &f.path, len, f.executable, src)?;
                }
            }
        }
        tar.finish().context("could not finish the payload archive")?;
    }
    let mut inner = encoder.finish().context("could not finish zstd compression")?;
    inner.flush().with_context(|| format!("could not write '{tmp}'"))?;
    inner.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).with_context(|| format!("could not write '{tmp}'"))?;
    fs::rename(&tmp, out).with_context(|| format!("could not rename '{tmp}' to '{out}'"))?;
    Ok(())
}

/// A Helm chart archive (`NAME/...` inside a gzip'd tar), deterministic like the payload.
pub fn chart_tgz(dir: &Utf8Path, files: &[(String, Utf8PathBuf)], out: &Utf8Path) -> Result<()> {
    let name = dir.file_name().context("bug: chart dir has no name")?;
    let file = fs::File::create(out).with_context(|| format!("could not create '{out}'"))?;
    let gz = flate2::GzBuilder::new().mtime(0).operating_system(255).write(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (rel, path) in files {
        let src = fs::File::open(path).with_context(|| format!("could not open '{path}'"))?;
        let len = src.metadata()?.len();
        append(&mut tar, &format!("{name}/{rel}"), len, false, src)?;
    }
    tar.into_inner()
        .context("could not finish the chart archive")?
        .finish()
        .context("could not finish the chart archive")?
        .sync_all()
        .with_context(|| format!("could not write '{out}'"))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, len: u64, exec: bool, data: impl std::io::Read) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, if exec { 0o755 } else { 0o644 }, len);
    tar.append_data(&mut h, path, data).with_context(|| format!("could not add '{path}' to the payload"))
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    tar.append_data(&mut h, format!("{path}/"), std::io::empty()).with_context(|| format!("could not add '{path}/' to the payload"))
}
