//! The content-addressed cache, `$FLOPPIES_CACHE/sha256/<hex>`: a file is
//! there only once its bytes were hashed and matched its name. Downloads go
//! to `<hex>.part` first, resume from it with an HTTP Range request, and are
//! renamed into place only after the sha256 matches.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use ureq::http::Response;
use ureq::Body;

use crate::registry::Unreachable;
use floppies_format::hashing::sha256_of;

pub struct Cache {
    dir: Utf8PathBuf,
}

impl Cache {
    /// The cache rooted at ROOT (`$FLOPPIES_CACHE`); entries live in ROOT/sha256.
    pub fn new(root: &Utf8Path) -> Cache {
        Cache { dir: root.join("sha256") }
    }

    pub fn path(&self, hex: &str) -> Utf8PathBuf {
        self.dir.join(hex)
    }

    fn part(&self, hex: &str) -> Utf8PathBuf {
        self.dir.join(format!("{hex}.part"))
    }

    /// The entry for HEX if it is there and intact. A corrupt entry is removed
    /// (so that it is fetched again) and reported on stderr.
    pub fn lookup(&self, hex: &str) -> Result<Option<Utf8PathBuf>> {
        let path = self.path(hex);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("could not open '{path}'")),
        };
        let (got, _) = sha256_of(file).with_context(|| format!("could not read '{path}'"))?;
        if got == hex {
            return Ok(Some(path));
        }
        eprintln!("fetch: the cached '{path}' is corrupt (its sha256 is {got}); removed, it will be fetched again");
        fs::remove_file(&path).with_context(|| format!("could not remove the corrupt '{path}'"))?;
        Ok(None)
    }

    /// Stores BYTES as HEX if they hash to it; otherwise stores nothing.
    pub fn put(&self, hex: &str, bytes: &[u8], what: &str) -> Result<Utf8PathBuf> {
        let got = hex::encode(Sha256::digest(bytes));
        if got != hex {
            bail!("digest mismatch for {what}: expected sha256:{hex}, got sha256:{got}; nothing was cached");
        }
        fs::create_dir_all(&self.dir).with_context(|| format!("could not create '{}'", self.dir))?;
        let part = self.part(hex);
        fs::write(&part, bytes).with_context(|| format!("could not write '{part}'"))?;
        self.commit(hex)
    }

    /// Downloads HEX with REQUEST (called with the offset to resume from; it
    /// must answer 200 with the whole file or 206 from that offset), checks
    /// SIZE when known and the sha256, and returns the cached path.
    pub fn download(&self, hex: &str, size: Option<u64>, what: &str, mut request: impl FnMut(u64) -> Result<Response<Body>>) -> Result<Utf8PathBuf> {
        fs::create_dir_all(&self.dir).with_context(|| format!("could not create '{}'", self.dir))?;
        let part = self.part(hex);
        let mut from = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if size.is_some_and(|s| from >= s) {
            from = 0; // a complete .part would have been renamed: this one is wrong
        }
        let mut resp = match request(from) {
            Ok(r) => r,
            Err(e) if from > 0 && e.downcast_ref::<Unreachable>().is_none() => {
                eprintln!("fetch: {what}: resuming was refused ({e:#}); starting again");
                from = 0;
                request(0)?
            }
            Err(e) => return Err(e),
        };
        if from > 0 && !resumes_at(&resp, from) {
            if resp.status() != 200 {
                bail!("{what}: the server answered {} to a request for the whole file", resp.status());
            }
            eprintln!("fetch: {what}: the server ignored the range request; starting again");
            from = 0;
        }
        if from > 0 {
            eprintln!("fetch: {what}: resuming after {from} bytes");
        }
        let mut hasher = Sha256::new();
        let mut out = if from > 0 {
            let mut have = fs::File::open(&part).with_context(|| format!("could not open '{part}'"))?;
            std::io::copy(&mut (&mut have).take(from), &mut HashWriter(&mut hasher)).with_context(|| format!("could not read '{part}'"))?;
            let f = fs::OpenOptions::new().write(true).open(&part).with_context(|| format!("could not open '{part}'"))?;
            f.set_len(from).with_context(|| format!("could not truncate '{part}'"))?;
            let mut f = f;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from))?;
            f
        } else {
            fs::File::create(&part).with_context(|| format!("could not create '{part}'"))?
        };
        let limit = size.map_or(u64::MAX, |s| s - from + 1);
        let mut body = resp.body_mut().with_config().limit(u64::MAX).reader().take(limit);
        let mut total = from;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    out.flush().ok();
                    bail!("the download of {what} broke off after {total} bytes ({e}); '{part}' is kept: run again to resume");
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).with_context(|| format!("could not write '{part}'"))?;
            total += n as u64;
        }
        out.sync_all().with_context(|| format!("could not write '{part}'"))?;
        drop(out);
        let got = hex::encode(hasher.finalize());
        if let Some(s) = size.filter(|s| *s != total) {
            fs::remove_file(&part).ok();
            bail!("size mismatch for {what}: expected {s} bytes, got {total}{}; nothing was cached", if total > s { " or more" } else { "" });
        }
        if got != hex {
            fs::remove_file(&part).ok();
            bail!("digest mismatch for {what}: expected sha256:{hex}, got sha256:{got}; nothing was cached");
        }
        self.commit(hex)
    }

    fn commit(&self, hex: &str) -> Result<Utf8PathBuf> {
        let (part, path) = (self.part(hex), self.path(hex));
        fs::rename(&part, &path).with_context(|| format!("could not rename '{part}' to '{path}'"))?;
        Ok(path)
    }
}

/// What earlier builds resolved for unpinned items, `$FLOPPIES_CACHE/resolved.json`
/// (key: a checksum URL and file name, or an image reference), so that a cache
/// filled online builds the same file offline.
pub struct Memo {
    path: Utf8PathBuf,
    entries: std::collections::BTreeMap<String, Resolution>,
    changed: bool,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Resolution {
    value: String,
    /// `resolved at build time from URL`
    pinned: String,
}

impl Memo {
    pub const FILE_NAME: &'static str = "resolved.json";

    pub fn open(root: &Utf8Path) -> Result<Memo> {
        let path = root.join(Self::FILE_NAME);
        let entries = match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| format!("'{path}' is damaged: remove it (the next online build writes it again)"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e).with_context(|| format!("could not read '{path}'")),
        };
        Ok(Memo { path, entries, changed: false })
    }

    /// The value and `pinned` text resolved earlier for KEY: the same text as
    /// then, so that an offline build from this cache gives the same bytes.
    pub fn recall(&self, key: &str) -> Option<(String, String)> {
        self.entries.get(key).map(|r| (r.value.clone(), r.pinned.clone()))
    }

    pub fn remember(&mut self, key: &str, value: &str, pinned: &str) {
        self.changed = true;
        self.entries.insert(key.to_string(), Resolution { value: value.to_string(), pinned: pinned.to_string() });
    }

    pub fn save(&self) -> Result<()> {
        if !self.changed {
            return Ok(());
        }
        let dir = self.path.parent().context("bug: the memo has no directory")?;
        fs::create_dir_all(dir).with_context(|| format!("could not create '{dir}'"))?;
        let tmp = Utf8PathBuf::from(format!("{}.tmp", self.path));
        fs::write(&tmp, serde_json::to_vec_pretty(&self.entries)?).with_context(|| format!("could not write '{tmp}'"))?;
        fs::rename(&tmp, &self.path).with_context(|| format!("could not rename '{tmp}' to '{}'", self.path))
    }
}

/// A 206 whose Content-Range starts at FROM.
fn resumes_at(resp: &Response<Body>, from: u64) -> bool {
    resp.status() == 206
        && resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok())
            == Some(from)
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// GET URL (resuming from an offset), for plain files such as k3s's release assets.
pub fn get_file(agent: &ureq::Agent, url: &str, from: u64) -> Result<Response<Body>> {
    let mut req = agent.get(url);
    if from > 0 {
        req = req.header("Range", &format!("bytes={from}-"));
    }
    let resp = req.call().map_err(|e| crate::registry::unreachable_error(url, e))?;
    match resp.status().as_u16() {
        200 | 206 => Ok(resp),
        s => bail!("{url} answered {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> Utf8PathBuf {
        let d = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn put_verifies_and_lookup_removes_corrupt_entries() {
        let root = temp("put");
        let cache = Cache::new(&root);
        let hex = hex::encode(Sha256::digest(b"abc"));
        assert!(cache.put(&hex, b"abd", "x").unwrap_err().to_string().contains("digest mismatch for x"));
        assert!(!cache.path(&hex).exists(), "nothing cached on a mismatch");
        let p = cache.put(&hex, b"abc", "x").unwrap();
        assert_eq!(cache.lookup(&hex).unwrap(), Some(p.clone()));
        fs::write(&p, b"abx").unwrap();
        assert_eq!(cache.lookup(&hex).unwrap(), None);
        assert!(!p.exists(), "a corrupt entry is removed");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn memo_round_trip() {
        let root = temp("memo");
        let mut memo = Memo::open(&root).unwrap();
        assert!(memo.recall("k").is_none());
        memo.remember("k", "sha256:aa", "resolved at build time from https://x/y");
        memo.save().unwrap();
        let (value, pinned) = Memo::open(&root).unwrap().recall("k").unwrap();
        assert_eq!(value, "sha256:aa");
        assert_eq!(pinned, "resolved at build time from https://x/y");
        fs::write(root.join(Memo::FILE_NAME), "{").unwrap();
        assert!(Memo::open(&root).err().unwrap().to_string().contains("is damaged"));
        fs::remove_dir_all(&root).unwrap();
    }
}
