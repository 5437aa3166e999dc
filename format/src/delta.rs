//! Update files: an image archive carried as the blobs its base lacks.
//!
//! An OCI image archive is a tar whose blobs are entries named
//! `blobs/sha256/<hex>`. `diff` walks the new archive block by block and
//! writes a recipe: a list of segments that, concatenated, are the new
//! archive byte for byte. A segment is either carried (bytes the update file
//! holds: tar headers, `index.json`, padding, blobs the base lacks) or a blob
//! taken from the base archive by digest. `reassemble` follows the recipe and
//! checks every blob taken from the base against its digest and the result
//! against the new archive's sha256 and size. Nothing here parses the tar
//! the way an extractor would: reassembly only concatenates, so a recipe can
//! describe any tar, and the sha256 says whether it did so faithfully.
//!
//! The base archive is read from the customer's host, so it is hostile
//! until verified: `index` hashes the whole file and every blob in it (a
//! blob whose bytes do not match its name is refused), and reassembly hashes
//! each blob again as it copies it.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

const BLOCK: usize = 512;
const BLOB_PREFIX: &str = "blobs/sha256/";
/// More blobs than any image set has; bounds the index built from a host file.
pub const MAX_BLOBS: usize = 100_000;
/// More segments than any recipe needs (two per blob, plus a few).
pub const MAX_SEGMENTS: usize = 2 * MAX_BLOBS + 16;

/// How to rebuild one image archive from the base's and the update's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The rebuilt archive's size and sha256 (the full bundle's artifact).
    pub size: u64,
    pub sha256: String,
    /// The sha256 of the base archive the blobs are taken from.
    pub base_sha256: String,
    /// How many bytes the update file carries for this archive.
    pub carried_size: u64,
    pub segments: Vec<Segment>,
}

/// One run of bytes of the rebuilt archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Segment {
    /// The next `size` bytes of the update's carried file.
    Carried { size: u64 },
    /// The blob `digest` (`sha256:<hex>`), `size` bytes, from the base archive.
    Base { digest: String, size: u64 },
}

/// Where each blob's bytes are in a verified base archive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlobIndex {
    blobs: BTreeMap<String, (u64, u64)>,
}

/// A base archive as `index` found it: its blobs, sha256 and size.
#[derive(Debug)]
pub struct Indexed {
    pub blobs: BlobIndex,
    pub sha256: String,
    pub size: u64,
}

impl BlobIndex {
    /// The offset and size of blob DIGEST (`sha256:<hex>`).
    pub fn get(&self, digest: &str) -> Option<(u64, u64)> {
        self.blobs.get(digest).copied()
    }

    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
}

impl Recipe {
    /// How many bytes the rebuilt archive takes from the base.
    pub fn from_base_size(&self) -> u64 {
        self.segments.iter().map(|s| if let Segment::Base { size, .. } = s { *size } else { 0 }).sum()
    }

    /// Checks the recipe against itself and against the base's blobs before
    /// anything is copied, naming every blob the base lacks at once.
    pub fn check(&self, base: &BlobIndex) -> Result<()> {
        if self.segments.len() > MAX_SEGMENTS {
            bail!("the recipe has {} segments, more than the {MAX_SEGMENTS} any image archive needs", self.segments.len());
        }
        let (mut total, mut carried) = (0u64, 0u64);
        let mut missing = Vec::new();
        for s in &self.segments {
            let size = match s {
                Segment::Carried { size } => {
                    carried = carried.checked_add(*size).context("the recipe's carried sizes overflow")?;
                    *size
                }
                Segment::Base { digest, size } => {
                    match base.get(digest) {
                        Some((_, have)) if have == *size => {}
                        Some((_, have)) => missing.push(format!("{digest} ({size} bytes; the base's has {have})")),
                        None => missing.push(format!("{digest} ({size} bytes)")),
                    }
                    *size
                }
            };
            total = total.checked_add(size).context("the recipe's sizes overflow")?;
        }
        if total != self.size {
            bail!("the recipe's segments add up to {total} bytes, not the archive's {}", self.size);
        }
        if carried != self.carried_size {
            bail!("the recipe's carried segments add up to {carried} bytes, not the {} it names", self.carried_size);
        }
        if !missing.is_empty() {
            bail!("the base archive lacks {} blob(s) this update needs: {}", missing.len(), missing.join(", "));
        }
        Ok(())
    }
}

/// One tar entry's header as the scanner saw it.
struct Entry {
    header: [u8; BLOCK],
    /// `sha256:<hex>` when the entry is a plain blob file.
    blob: Option<String>,
    size: u64,
}

/// Reads a tar stream entry by entry, keeping every byte, so that what it
/// yields concatenates back to the input.
struct Scanner<R> {
    inner: R,
    /// A pax or GNU long-name header came before: the next entry's name is not its header's.
    renamed: bool,
    done: bool,
    /// The scan stopped at a zero block (consumed; the caller accounts for it).
    zero_block: bool,
}

impl<R: Read> Scanner<R> {
    fn new(inner: R) -> Self {
        Scanner { inner, renamed: false, done: false, zero_block: false }
    }

    /// The next entry's header, or None at the end: the stream's end, or the
    /// first zero block (which, with what follows it, is `rest`).
    fn next(&mut self) -> Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        let mut block = [0u8; BLOCK];
        if !read_full(&mut self.inner, &mut block)? {
            self.done = true;
            return Ok(None);
        }
        if block.iter().all(|&b| b == 0) {
            self.done = true;
            self.zero_block = true;
            return Ok(None);
        }
        let size = entry_size(&block)?;
        let kind = block[156];
        let renamed = std::mem::replace(&mut self.renamed, matches!(kind, b'x' | b'g' | b'L' | b'K'));
        let name = entry_name(&block);
        let blob = (!renamed && matches!(kind, b'0' | 0)).then(|| blob_digest(&name)).flatten();
        Ok(Some(Entry { header: block, blob, size }))
    }
}

/// Fills BUF, or returns false at a clean end of stream before its first byte.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) if n == 0 => return Ok(false),
            Ok(0) => bail!("the archive ends in the middle of a tar block"),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("could not read the archive"),
        }
    }
    Ok(true)
}

/// The entry's data size: octal, or GNU base-256 when the high bit is set.
fn entry_size(block: &[u8; BLOCK]) -> Result<u64> {
    let field = &block[124..136];
    if field[0] & 0x80 != 0 {
        if field[1..4].iter().any(|&b| b != 0) {
            bail!("a tar entry's size is out of range");
        }
        return Ok(field[4..].iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)));
    }
    let text: String = field.iter().take_while(|&&b| b != 0).map(|&b| b as char).collect();
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).with_context(|| format!("a tar entry's size '{text}' is not octal"))
}

/// The entry's name: POSIX ustar's prefix and name, or the name field alone.
fn entry_name(block: &[u8; BLOCK]) -> String {
    let field = |r: std::ops::Range<usize>| {
        let b = &block[r];
        String::from_utf8_lossy(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]).into_owned()
    };
    let name = field(0..100);
    if &block[257..263] == b"ustar\0" {
        let prefix = field(345..500);
        if !prefix.is_empty() {
            return format!("{prefix}/{name}");
        }
    }
    name
}

/// `sha256:<hex>` for `blobs/sha256/<64 lowercase hex>`.
fn blob_digest(name: &str) -> Option<String> {
    let hex = name.strip_prefix(BLOB_PREFIX)?;
    (hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))).then(|| format!("sha256:{hex}"))
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// Counts and hashes what passes through it.
struct Tally<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn tally<W: Write>(inner: W) -> Tally<W> {
    Tally { inner, hasher: Sha256::new(), bytes: 0 }
}

/// Copies exactly N bytes from R to W, hashing them; an early end is an error.
fn copy_exact(r: &mut impl Read, w: &mut impl Write, n: u64, what: &str) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut left = n;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let k = match r.read(&mut buf[..want]) {
            Ok(0) => bail!("{what} ends {left} bytes early"),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("could not read {what}")),
        };
        hasher.update(&buf[..k]);
        w.write_all(&buf[..k]).context("could not write the rebuilt archive")?;
        left -= k as u64;
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Reads a base archive once: its sha256 and size, and where each blob is.
/// A blob whose bytes do not hash to its name is refused, naming it.
pub fn index(base: impl Read) -> Result<Indexed> {
    let mut t = tally(io::sink());
    let mut scanner = Scanner::new(TeeReader { inner: base, out: &mut t });
    // A zero block ends the entries; what follows is hashed as it is.
    let mut blobs = BTreeMap::new();
    let mut offset = 0u64;
    while let Some(entry) = scanner.next()? {
        offset += BLOCK as u64;
        let mut sink = io::sink();
        let got = copy_exact(&mut scanner.inner, &mut sink, entry.size, "the base archive")?;
        if let Some(digest) = entry.blob {
            if got != digest {
                bail!("the base archive's blob {digest} is damaged: its bytes hash to {got}");
            }
            if blobs.len() >= MAX_BLOBS {
                bail!("the base archive holds more than {MAX_BLOBS} blobs");
            }
            blobs.insert(digest, (offset, entry.size));
        }
        let pad = padding(entry.size);
        copy_exact(&mut scanner.inner, &mut sink, pad, "the base archive")?;
        offset += entry.size + pad;
    }
    io::copy(&mut scanner.inner, &mut io::sink()).context("could not read the base archive")?;
    drop(scanner);
    let sha256 = hex::encode(std::mem::take(&mut t.hasher).finalize());
    Ok(Indexed { blobs: BlobIndex { blobs }, sha256, size: t.bytes })
}

/// Passes everything read from INNER to OUT as well.
struct TeeReader<'a, R, W> {
    inner: R,
    out: &'a mut W,
}

impl<R: Read, W: Write> Read for TeeReader<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Writes the bytes of NEW that BASE cannot supply to CARRIED and returns the
/// recipe that rebuilds NEW from them and BASE's blobs. A blob of NEW whose
/// bytes do not hash to its name is refused (the build made a broken archive).
pub fn diff(new: impl Read, base: &BlobIndex, base_sha256: &str, carried: impl Write) -> Result<Recipe> {
    let mut out = tally(carried);
    let mut whole = tally(io::sink());
    let mut segments: Vec<Segment> = Vec::new();
    let mut scanner = Scanner::new(TeeReader { inner: new, out: &mut whole });
    while let Some(entry) = scanner.next()? {
        out.write_all(&entry.header).context("could not write the carried bytes")?;
        push_carried(&mut segments, entry.header.len() as u64);
        let from_base = entry.blob.as_ref().filter(|d| base.get(d).is_some_and(|(_, size)| size == entry.size));
        match from_base {
            Some(digest) => {
                let got = copy_exact(&mut scanner.inner, &mut io::sink(), entry.size, "the new archive")?;
                if &got != digest {
                    bail!("the new archive's blob {digest} is damaged: its bytes hash to {got}");
                }
                segments.push(Segment::Base { digest: digest.clone(), size: entry.size });
            }
            None => {
                let got = copy_exact(&mut scanner.inner, &mut out, entry.size, "the new archive")?;
                if let Some(digest) = entry.blob.as_ref().filter(|d| **d != got) {
                    bail!("the new archive's blob {digest} is damaged: its bytes hash to {got}");
                }
                push_carried(&mut segments, entry.size);
            }
        }
        let pad = padding(entry.size);
        copy_exact(&mut scanner.inner, &mut out, pad, "the new archive")?;
        push_carried(&mut segments, pad);
    }
    if scanner.zero_block {
        out.write_all(&[0u8; BLOCK]).context("could not write the carried bytes")?;
        push_carried(&mut segments, BLOCK as u64);
    }
    let tail = io::copy(&mut scanner.inner, &mut out).context("could not copy the end of the new archive")?;
    push_carried(&mut segments, tail);
    drop(scanner);
    out.flush().context("could not write the carried bytes")?;
    let sha256 = hex::encode(std::mem::take(&mut whole.hasher).finalize());
    let size = whole.bytes;
    Ok(Recipe { size, sha256, base_sha256: base_sha256.to_string(), carried_size: out.bytes, segments })
}

/// Appends N carried bytes, extending the last run if it is one.
fn push_carried(segments: &mut Vec<Segment>, n: u64) {
    if n == 0 {
        return;
    }
    if let Some(Segment::Carried { size }) = segments.last_mut() {
        *size += n;
    } else {
        segments.push(Segment::Carried { size: n });
    }
}

/// Rebuilds the archive RECIPE describes into OUT from CARRIED (the update's
/// bytes for it) and BASE (the base archive, already indexed as INDEX).
/// Every blob taken from BASE is hashed as it is copied; the whole result must
/// have the recipe's size and sha256, and CARRIED must hold nothing more.
pub fn reassemble(recipe: &Recipe, carried: impl Read, base: &mut (impl Read + Seek), index: &BlobIndex, out: impl Write) -> Result<()> {
    recipe.check(index)?;
    let mut carried = carried;
    let mut out = tally(out);
    for s in &recipe.segments {
        match s {
            Segment::Carried { size } => {
                copy_exact(&mut carried, &mut out, *size, "the update's carried bytes")?;
            }
            Segment::Base { digest, size } => {
                let (offset, _) = index.get(digest).context("bug: a checked recipe names a blob the index lacks")?;
                base.seek(SeekFrom::Start(offset)).context("could not seek in the base archive")?;
                let got = copy_exact(&mut base.by_ref().take(*size), &mut out, *size, "the base archive")?;
                if &got != digest {
                    bail!("the base archive's blob {digest} changed while it was read: its bytes hash to {got}");
                }
            }
        }
    }
    let mut extra = [0u8; 1];
    if carried.read(&mut extra).context("could not read the update's carried bytes")? != 0 {
        bail!("the update's carried bytes are longer than the recipe says");
    }
    out.flush().context("could not write the rebuilt archive")?;
    let sha256 = hex::encode(std::mem::take(&mut out.hasher).finalize());
    if out.bytes != recipe.size || sha256 != recipe.sha256 {
        bail!("the rebuilt archive is {} bytes with sha256 {sha256}, not the {} bytes with sha256 {} the update names", out.bytes, recipe.size, recipe.sha256);
    }
    Ok(())
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
