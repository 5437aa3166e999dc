//! Memory and free disk against thresholds derived from the bundle's sizes.
//!
//! - memory: k3s documents 2 GiB for a server; the app adds about 0.5 GiB.
//!   Below 2 GiB fails, below 4 GiB warns.
//! - /opt: the unpacked release (every artifact but the images) plus 10%.
//! - /var/lib: the image archives three times over (the archive, containerd's
//!   content store, the unpacked snapshots) plus 2 GiB for k3s's own data and
//!   1 GiB of room for customer data. Two paths on one filesystem add up.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use super::Check;
use crate::runner;
use floppies_format::manifest::{Manifest, Role};

const GIB: u64 = 1 << 30;
const MEM_MIN: u64 = 2 * GIB;
const MEM_RECOMMENDED: u64 = 4 * GIB;

pub fn checks(manifest: Option<&Manifest>, installed: bool) -> Vec<Check> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    vec![memory(&meminfo), disk(manifest, installed)]
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn mem_total(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()).map(|kib| kib * 1024)
}

pub fn memory(meminfo: &str) -> Check {
    match mem_total(meminfo) {
        None => Check::warn("memory", "could not read MemTotal from /proc/meminfo"),
        // The kernel keeps a little for itself: allow 5% below the nominal size.
        Some(m) if m < MEM_MIN * 95 / 100 => {
            Check::fail("memory", format!("{} of memory; at least 2 GiB is needed", human(m)), "give the machine at least 2 GiB of memory (4 GiB recommended)")
        }
        Some(m) if m < MEM_RECOMMENDED * 95 / 100 => Check::warn("memory", format!("{} of memory; 4 GiB is recommended", human(m))),
        Some(m) => Check::pass("memory", format!("{} of memory", human(m))),
    }
}

/// Bytes needed under /opt and under /var/lib for this bundle.
pub fn needs(manifest: &Manifest) -> (u64, u64) {
    let images: u64 = manifest.artifacts.iter().filter(|a| matches!(a.role, Role::K3sImages | Role::AppImages)).map(|a| a.size).sum();
    let rest: u64 = manifest.artifacts.iter().filter(|a| !matches!(a.role, Role::K3sImages | Role::AppImages)).map(|a| a.size).sum();
    (rest + rest / 10, images * 3 + 3 * GIB)
}

/// A re-run over this bundle's own install (INSTALLED) needs no new space:
/// its release is unpacked and its images are staged already.
fn disk(manifest: Option<&Manifest>, installed: bool) -> Check {
    let Some(m) = manifest else { return Check::pass("disk", "no bundle given: disk needs not checked") };
    let (opt, var) = if installed { (0, 0) } else { needs(m) };
    // Sum the needs of paths that share a filesystem.
    let mut per_fs: BTreeMap<u64, (String, u64, u64)> = BTreeMap::new();
    for (path, need) in [("/opt", opt), ("/var/lib", var)] {
        let Ok(meta) = std::fs::metadata(path) else { continue };
        let Some(avail) = available(path) else { return Check::warn("disk", format!("could not read the free space of {path}")) };
        let entry = per_fs.entry(meta.dev()).or_insert((String::new(), 0, avail));
        entry.0 = if entry.0.is_empty() { path.to_string() } else { format!("{} and {path}", entry.0) };
        entry.1 += need;
    }
    let short: Vec<String> = per_fs
        .values()
        .filter(|(_, need, avail)| need > avail)
        .map(|(paths, need, avail)| format!("{paths} need {} but have {} free", human(*need), human(*avail)))
        .collect();
    if short.is_empty() {
        let text: Vec<String> = per_fs.values().map(|(p, need, avail)| format!("{p}: {} free, {} needed", human(*avail), human(*need))).collect();
        Check::pass("disk", text.join("; "))
    } else {
        Check::fail("disk", short.join("; "), "free disk space there (or grow the filesystem), then run the install again")
    }
}

/// Bytes available on PATH's filesystem, from `df -Pk`.
fn available(path: &str) -> Option<u64> {
    let out = runner::capture("df", &["-Pk", path]).ok()?;
    out.stdout.lines().nth(1)?.split_whitespace().nth(3)?.parse::<u64>().ok().map(|k| k * 1024)
}

fn human(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Verdict;

    #[test]
    fn memory_thresholds() {
        assert_eq!(memory("MemTotal:        1000000 kB\n").result, Verdict::Fail);
        assert_eq!(memory("MemTotal:        3000000 kB\n").result, Verdict::Warn);
        assert_eq!(memory("MemTotal:        8000000 kB\n").result, Verdict::Pass);
        assert_eq!(memory("").result, Verdict::Warn);
    }

    #[test]
    fn a_rerun_over_its_own_install_needs_no_new_space() {
        // A bundle larger than any disk: refused for a new install, while a
        // re-run over this bundle's install (its space already used) passes.
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "schema": 1,
            "bundle": {"name": "floppies", "version": "1.0", "profile": "test", "arch": "x86_64"},
            "k3s": {"version": "stand-in"},
            "artifacts": [{"path": "k3s/k3s", "role": "k3s-binary", "size": 1u64 << 60, "sha256": "cc", "source": "test"}]
        }))
        .unwrap();
        let fresh = disk(Some(&manifest), false);
        assert_eq!(fresh.result, Verdict::Fail, "{}", fresh.message);
        let rerun = disk(Some(&manifest), true);
        assert_eq!(rerun.result, Verdict::Pass, "{}", rerun.message);
    }
}
