//! `floppies diagnose`: one support bundle, collected even when everything
//! is broken, with every secret redacted before it is written.
//!
//! floppies-diagnose-HOST-TIMESTAMP.tar.zst (mode 0600) holds summary.txt
//! (the likely problem first), index.json (per file: source, exit code,
//! duration, truncation, redactions) and the collected files.

mod builtins;
pub mod collect;
pub mod redact;
mod summary;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

use collect::{Item, Source};
use redact::Redactor;

use crate::layout::Layout;
use crate::runner;

#[derive(Debug, Serialize)]
pub struct Entry {
    pub file: String,
    pub source: String,
    pub exit_code: Option<i32>,
    pub duration_ms: u128,
    pub bytes: usize,
    pub truncated: bool,
    pub timed_out: bool,
    pub redactions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Index {
    pub host: String,
    pub created_unix: u64,
    pub helper_version: &'static str,
    pub cluster_answered: bool,
    pub total_bytes: usize,
    pub limits: serde_json::Value,
    pub summary: Vec<String>,
    pub entries: Vec<Entry>,
}

/// Result of one run.
pub struct Written {
    pub path: Utf8PathBuf,
    pub size: u64,
    pub index: Index,
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "host".into())
}

/// Secrets known on this host, to be removed wherever they appear.
fn known_secrets(layout: &Layout) -> Vec<String> {
    let mut secrets = Vec::new();
    // Access keys too: a MinIO advisory (CVE-2026-40344) lets a known access
    // key write without its secret.
    if let Ok((user, password)) = crate::steps::read_minio_env(layout) {
        secrets.extend([user, password]);
    }
    if let Ok((key, secret)) = crate::steps::read_reader_env(layout) {
        secrets.extend([key, secret]);
    }
    let tokens = ["server/token", "server/agent-token", "server/node-token"].map(|name| layout.k3s_data_dir().join(name));
    // A joined machine's copy of the cluster's token.
    for path in tokens.into_iter().chain([layout.host(crate::steps::join::TOKEN_FILE)]) {
        if let Ok(t) = fs::read_to_string(path) {
            let t = t.trim().to_string();
            if let Some((_, secret)) = t.rsplit_once(':') {
                secrets.push(secret.to_string());
            }
            secrets.push(t);
        }
    }
    secrets
}

/// Collects everything and writes the bundle into OUT_DIR.
pub fn run(layout: &Layout, out_dir: &Utf8Path, progress: &dyn Fn(&str)) -> Result<Written> {
    let started = Instant::now();
    let redactor = Redactor::new(known_secrets(layout));
    let cluster = builtins::cluster_answers(layout);
    let mut entries = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0usize;
    for item in collect::items(layout) {
        let t0 = Instant::now();
        let mut entry = Entry {
            file: item.path.clone(),
            source: collect::describe(&item),
            exit_code: None,
            duration_ms: 0,
            bytes: 0,
            truncated: false,
            timed_out: false,
            redactions: 0,
            skipped: None,
            error: None,
        };
        if item.cluster && !cluster {
            entry.skipped = Some("k3s does not answer".into());
            entries.push(entry);
            continue;
        }
        let left = collect::TOTAL_TIMEOUT.saturating_sub(started.elapsed());
        if left.is_zero() {
            entry.skipped = Some("the total time limit was reached".into());
            entries.push(entry);
            continue;
        }
        progress(&item.path);
        let (text, code, timed_out, error) = gather(layout, &item, left.min(collect::ITEM_TIMEOUT));
        let (text, truncated, redactions) = redact_then_bound(&redactor, &text, collect::FILE_MAX.min(collect::TOTAL_MAX.saturating_sub(total)), item.tail);
        entry.exit_code = code;
        entry.timed_out = timed_out;
        entry.error = error;
        entry.duration_ms = t0.elapsed().as_millis();
        entry.bytes = text.len();
        entry.truncated = truncated;
        entry.redactions = redactions;
        total += text.len();
        files.push((item.path.clone(), text.into_bytes()));
        entries.push(entry);
    }
    let summary = summary::findings(layout, cluster);
    let (summary_text, n) = redactor.redact(&summary::render(&summary, &entries));
    let mut index = Index {
        host: hostname(),
        created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        helper_version: env!("CARGO_PKG_VERSION"),
        cluster_answered: cluster,
        total_bytes: total,
        limits: serde_json::json!({
            "file_bytes": collect::FILE_MAX, "total_bytes": collect::TOTAL_MAX,
            "item_seconds": collect::ITEM_TIMEOUT.as_secs(), "total_seconds": collect::TOTAL_TIMEOUT.as_secs(),
        }),
        summary,
        entries,
    };
    index.entries.push(Entry {
        file: "summary.txt".into(),
        source: "built in: summary".into(),
        exit_code: None,
        duration_ms: 0,
        bytes: summary_text.len(),
        truncated: false,
        timed_out: false,
        redactions: n,
        skipped: None,
        error: None,
    });
    let (index_text, _) = redactor.redact(&serde_json::to_string_pretty(&index)?);
    let name = format!("floppies-diagnose-{}-{}", index.host, timestamp(index.created_unix));
    let path = out_dir.join(format!("{name}.tar.zst"));
    let file = create_output(out_dir, &path)?;
    write_bundle(file, &path, &name, &summary_text, &index_text, &files)?;
    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(Written { path, size, index })
}

/// Runs or reads one item: (text, exit code, timed out, error).
fn gather(layout: &Layout, item: &Item, limit: Duration) -> (String, Option<i32>, bool, Option<String>) {
    let command = |argv: Vec<String>| match argv.split_first() {
        Some((program, args)) => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            match runner::capture_timeout(program, &args, limit) {
                Ok((out, timed_out)) => {
                    let mut text = out.stdout;
                    if !out.stderr.trim().is_empty() {
                        text.push_str("\n--- stderr ---\n");
                        text.push_str(&out.stderr);
                    }
                    (text, out.code, timed_out, None)
                }
                Err(e) => (String::new(), None, false, Some(floppies_format::error::render(&e))),
            }
        }
        None => (String::new(), None, false, Some("bug: empty command".into())),
    };
    match &item.source {
        Source::Cmd(argv) => command(argv.clone()),
        Source::Kubectl(args) => {
            let mut argv = vec![collect::k3s(layout), "kubectl".into(), "--kubeconfig".into(), layout.kubeconfig().to_string()];
            argv.extend(args.iter().cloned());
            command(argv)
        }
        Source::File(p) => match fs::read(layout.host(p)) {
            Ok(bytes) => (String::from_utf8_lossy(&bytes).into_owned(), None, false, None),
            Err(e) => (String::new(), None, false, Some(format!("could not read '{p}': {e}"))),
        },
        Source::Func(b) => match builtins::run(layout, *b, limit) {
            Ok(text) => (text, None, false, None),
            Err(e) => (String::new(), None, false, Some(floppies_format::error::render(&e))),
        },
    }
}

/// Redacts the whole text, then keeps at most MAX bytes of it: cutting first
/// would keep the part of a secret on our side of the cut, where no rule can
/// recognise it. Returns (text, truncated, redactions).
fn redact_then_bound(redactor: &Redactor, text: &str, max: usize, tail: bool) -> (String, bool, usize) {
    let (text, redactions) = redactor.redact(text);
    let (text, truncated) = bound(text, max, tail);
    (text, truncated, redactions)
}

/// Keeps at most MAX bytes: the start, or the end for logs.
fn bound(text: String, max: usize, tail: bool) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let note = "\n[... cut by floppies diagnose: size limit ...]\n";
    let keep = max.saturating_sub(note.len());
    let cut = if tail {
        let mut start = text.len() - keep;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        format!("{note}{}", &text[start..])
    } else {
        let mut end = keep;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{note}", &text[..end])
    };
    (cut, true)
}

fn timestamp(unix: u64) -> String {
    let out = runner::capture("date", &["-u", "-d", &format!("@{unix}"), "+%Y%m%dT%H%M%SZ"]).ok().filter(|o| o.success());
    out.map(|o| o.stdout.trim().to_string()).unwrap_or_else(|| unix.to_string())
}

/// Creates the bundle as a new file (mode 0600) in a directory no one else can write (`files::create_new_in`).
fn create_output(out_dir: &Utf8Path, path: &Utf8Path) -> Result<fs::File> {
    let name = path.file_name().context("bug: the bundle path has no file name")?;
    crate::files::create_new_in(out_dir, name, 0o600, "the support bundle", "choose a directory only root can write, e.g. 'floppies diagnose --output /root'")
}

/// Writes NAME/{summary.txt,index.json,...} as a tar.zst into FILE (at PATH).
fn write_bundle(file: fs::File, path: &Utf8Path, name: &str, summary: &str, index: &str, files: &[(String, Vec<u8>)]) -> Result<()> {
    let mut enc = zstd::stream::write::Encoder::new(file, 9).context("could not start zstd")?;
    {
        let mut tar = tar::Builder::new(&mut enc);
        let mut put = |rel: &str, data: &[u8]| -> Result<()> {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o600);
            h.set_size(data.len() as u64);
            h.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
            tar.append_data(&mut h, format!("{name}/{rel}"), data).with_context(|| format!("could not add '{rel}'"))
        };
        put("summary.txt", summary.as_bytes())?;
        put("index.json", index.as_bytes())?;
        for (rel, data) in files {
            put(rel, data)?;
        }
        tar.finish().context("could not finish the support bundle")?;
    }
    let mut file = enc.finish().context("could not finish the support bundle")?;
    file.flush()?;
    file.sync_all().with_context(|| format!("could not write '{path}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret that straddles the cut, at every offset around it, for head and tail cuts.
    #[test]
    fn a_secret_across_the_size_cut_leaves_no_part_behind() {
        let secret = "Q7fLx2PzR9mWkT4vB8nYc3HsJ6dGa1EuK5oXiN0q";
        let redactor = Redactor::new(vec![secret.to_string()]);
        let max = 1000;
        for tail in [false, true] {
            for at in 900..1000 {
                let text = format!("{}{secret}{}", "x".repeat(at), "y".repeat(at));
                let (out, truncated, n) = redact_then_bound(&redactor, &text, max, tail);
                assert!(truncated && n == 1 && out.len() <= max);
                for w in secret.as_bytes().windows(6) {
                    let part = std::str::from_utf8(w).unwrap();
                    assert!(!out.contains(part), "'{part}' of the secret survived (tail={tail}, at={at})");
                }
            }
        }
    }
}
