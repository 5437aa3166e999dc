//! Step 4: the secrets the application needs, made once with the OS CSPRNG
//! and kept under /var/lib/floppies/credentials (0700, files 0600). Every later
//! install reuses them while the data is kept; only an uninstall without
//! --keep-data removes them, together with the data.
//!
//! - minio-root.env: the object store's root user and password;
//! - s3www-reader.env: the read-only key s3www serves the bucket with (the
//!   chart's seed job creates that user in MinIO);
//! - tls/: a per-deployment CA and a server certificate for the host's names
//!   and addresses (or the customer's own certificate and key).

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};
use std::fs;
use std::io::Read;

use super::{InstallCx, Step, UninstallCx};
use crate::files::{private_dir, write_private};
use crate::layout::Layout;

pub struct Credentials;

const PASSWORD_LEN: usize = 40;
/// The uid and gid the chart runs MinIO and the seed job as (the installer
/// sends it as minio.runAsUser), chosen by preflight so it is no account
/// of this host; MinIO's data directory must belong to it, as a hostPath
/// volume gets no fsGroup.
pub fn app_uid(cx: &InstallCx) -> Result<u32> {
    match cx.record("preflight")["app_uid"].as_u64() {
        Some(id) if id > 0 => u32::try_from(id).context("bug: app_uid out of range"),
        _ => anyhow::bail!("bug: preflight chose no uid for the app's pods"),
    }
}

/// Gives TREE to ID:ID, not following symlinks (an earlier install's data
/// may belong to another id, such as 1000, a login user's on Ubuntu).
fn chown_tree(tree: &Utf8Path, id: u32) -> Result<()> {
    std::os::unix::fs::lchown(tree, Some(id), Some(id)).with_context(|| format!("could not give '{tree}' to the app's user {id}"))?;
    if fs::symlink_metadata(tree).is_ok_and(|m| m.is_dir()) {
        for e in fs::read_dir(tree).with_context(|| format!("could not read '{tree}'"))? {
            let path = Utf8PathBuf::from_path_buf(e.with_context(|| format!("could not read '{tree}'"))?.path())
                .map_err(|p| anyhow::anyhow!("'{}' is not UTF-8", p.display()))?;
            chown_tree(&path, id)?;
        }
    }
    Ok(())
}

impl Step for Credentials {
    fn name(&self) -> &'static str {
        "credentials"
    }

    fn summary(&self) -> &'static str {
        "generate the object store credentials and TLS certificates once, under /var/lib/floppies"
    }

    fn undo_summary(&self) -> &'static str {
        "remove /var/lib/floppies (data and credentials), unless --keep-data"
    }

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        let customer_ok = match &cx.opts.tls {
            Some((cert, key)) => crate::tls::same_as_installed(cert, key, &cx.layout.tls_dir())?,
            None => true,
        };
        let id = app_uid(cx)?;
        let data_owned = fs::metadata(cx.layout.minio_data_dir()).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == id && m.gid() == id
        });
        Ok(customer_ok
            && data_owned
            && read_minio_env(cx.layout).is_ok()
            && read_reader_env(cx.layout).is_ok()
            && cx.layout.tls_dir().join("server.crt").is_file()
            && cx.layout.tls_dir().join("server.key").is_file())
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let layout = cx.layout;
        private_dir(&layout.data_dir(), 0o755)?;
        private_dir(&layout.credentials_dir(), 0o700)?;
        private_dir(&layout.app_data_dir(), 0o755)?;
        private_dir(&layout.minio_data_dir(), 0o700)?;
        let id = app_uid(cx)?;
        let owned = fs::metadata(cx.layout.minio_data_dir()).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == id && m.gid() == id
        });
        if !owned {
            chown_tree(&layout.minio_data_dir(), id)?;
        }
        let created_password = if read_minio_env(layout).is_ok() {
            false
        } else {
            // The user name is random too: a MinIO advisory without an
            // open-source fix (CVE-2026-40344) lets whoever knows an access
            // key act with it, so a well-known root name is a risk.
            let user = format!("admin-{}", random_token(12)?.to_lowercase());
            let password = random_token(PASSWORD_LEN)?;
            write_private(&layout.minio_env(), &format!("MINIO_ROOT_USER={user}\nMINIO_ROOT_PASSWORD={password}\n"))?;
            true
        };
        if read_reader_env(layout).is_err() {
            let (key, secret) = (format!("s3www-{}", random_token(12)?.to_lowercase()), random_token(PASSWORD_LEN)?);
            write_private(&layout.reader_env(), &format!("S3WWW_ACCESS_KEY={key}\nS3WWW_SECRET_KEY={secret}\n"))?;
        }
        let created_tls = match &cx.opts.tls {
            Some((cert, key)) => crate::tls::install_customer(cert, key, &layout.tls_dir())?,
            None => crate::tls::ensure(&layout.tls_dir())?,
        };
        Ok(json!({ "dir": layout.credentials_dir(), "created_password": created_password, "created_tls": created_tls, "customer_tls": cx.opts.tls.is_some() }))
    }

    fn undo(&self, cx: &UninstallCx, _record: &Value) -> Result<()> {
        if cx.opts.keep_data {
            return Ok(());
        }
        // Everything but the journal, which the undos after this one still
        // need: it goes last, and only once every undo has succeeded (see
        // `steps::forget_installation`).
        let data = cx.layout.data_dir();
        let Ok(entries) = fs::read_dir(&data) else { return Ok(()) };
        let journal = cx.layout.state_file();
        for e in entries {
            let path = e.with_context(|| format!("could not read '{data}'"))?.path();
            if path == journal.as_std_path() {
                continue;
            }
            let meta = fs::symlink_metadata(&path).with_context(|| format!("could not stat '{}'", path.display()))?;
            if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) }.with_context(|| format!("could not remove '{}'", path.display()))?;
        }
        Ok(())
    }
}

/// (user, password) from minio-root.env.
pub fn read_minio_env(layout: &Layout) -> Result<(String, String)> {
    let path = layout.minio_env();
    let text = fs::read_to_string(&path).with_context(|| format!("could not read '{path}'"))?;
    let get = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_string).filter(|v| !v.is_empty());
    match (get("MINIO_ROOT_USER"), get("MINIO_ROOT_PASSWORD")) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => bail!("'{path}' lacks MINIO_ROOT_USER or MINIO_ROOT_PASSWORD"),
    }
}

/// (access key, secret key) from s3www-reader.env.
pub fn read_reader_env(layout: &Layout) -> Result<(String, String)> {
    let path = layout.reader_env();
    let text = fs::read_to_string(&path).with_context(|| format!("could not read '{path}'"))?;
    let get = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_string).filter(|v| !v.is_empty());
    match (get("S3WWW_ACCESS_KEY"), get("S3WWW_SECRET_KEY")) {
        (Some(k), Some(s)) => Ok((k, s)),
        _ => bail!("'{path}' lacks S3WWW_ACCESS_KEY or S3WWW_SECRET_KEY"),
    }
}

/// LEN characters of [A-Za-z0-9] from /dev/urandom, without modulo bias.
pub fn random_token(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = fs::File::open("/dev/urandom").context("could not open /dev/urandom")?;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.read_exact(&mut buf).context("could not read /dev/urandom")?;
        // 248 = 4 * 62: bytes at or above it would bias the first letters.
        out.extend(buf.iter().filter(|b| **b < 248).map(|b| ALPHABET[(*b % 62) as usize] as char).take(len - out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_distinct_and_alphanumeric() {
        let a = random_token(40).unwrap();
        let b = random_token(40).unwrap();
        assert_eq!(a.len(), 40);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
