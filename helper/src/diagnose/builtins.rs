//! Items the helper computes itself rather than by one command.

use anyhow::{Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs;
use std::time::{Duration, Instant};

use super::collect::{k3s, Builtin};
use crate::journal::Journal;
use crate::layout::Layout;
use crate::{http, preflight, runner};
use floppies_format::hashing::sha256_of;
use floppies_format::manifest::{Manifest, Role};

/// Logs per container, and how many containers at most.
const LOG_LINES: &str = "--tail=500";
const LOG_BYTES: usize = 256 << 10;
const MAX_CONTAINERS: usize = 40;

/// True when our k3s answers its readiness endpoint within a few seconds.
pub fn cluster_answers(layout: &Layout) -> bool {
    if fs::metadata(k3s(layout)).is_err() || fs::metadata(layout.kubeconfig()).is_err() {
        return false;
    }
    let kubeconfig = layout.kubeconfig();
    runner::capture_timeout(&k3s(layout), &["kubectl", "--kubeconfig", kubeconfig.as_str(), "get", "--raw", "/readyz"], Duration::from_secs(10))
        .is_ok_and(|(o, timed_out)| o.success() && !timed_out)
}

pub fn run(layout: &Layout, b: Builtin, limit: Duration) -> Result<String> {
    match b {
        Builtin::Versions => Ok(versions(layout)),
        Builtin::CpuLevel => cpu_level(),
        Builtin::Preflight => Ok(serde_json::to_string_pretty(&preflight::run_as(layout, release_manifest(layout).as_ref(), installed(layout), role(layout)))?),
        Builtin::InstallLogs => install_logs(layout),
        Builtin::NotReadyPods => not_ready_pods(layout, limit),
        Builtin::ContainerLogs => container_logs(layout, limit),
        Builtin::HttpCheck => http_check(layout),
    }
}

fn installed(layout: &Layout) -> bool {
    Journal::load(&layout.state_file()).ok().flatten().is_some()
}

/// An agent (joined with a join file), a server on etcd (joined as one, or moved by node add), or a server on sqlite (installed, or nothing yet).
fn role(layout: &Layout) -> preflight::network::Role {
    match Journal::load(&layout.state_file()).ok().flatten() {
        Some(j) => match crate::steps::join::joined_role(&j) {
            Some(crate::joinfile::NodeRole::Agent) => preflight::network::Role::Agent,
            Some(crate::joinfile::NodeRole::Server) => preflight::network::Role::EtcdServer,
            None if crate::steps::etcd::on_etcd(layout) => preflight::network::Role::EtcdServer,
            None => preflight::network::Role::Server,
        },
        None => preflight::network::Role::Server,
    }
}

/// The installed release's manifest, if any.
pub fn release_manifest(layout: &Layout) -> Option<Manifest> {
    let text = fs::read_to_string(layout.current_manifest()).ok()?;
    serde_json::from_str(&text).ok()
}

fn versions(layout: &Layout) -> String {
    let mut out = format!("floppies helper {}\n", env!("CARGO_PKG_VERSION"));
    match Journal::load(&layout.state_file()) {
        Ok(Some(j)) => {
            let _ = writeln!(out, "installed bundle {} ({} profile), install complete: {}", j.version, j.profile, j.complete);
        }
        Ok(None) => out.push_str("not installed (no state.json)\n"),
        Err(e) => {
            let _ = writeln!(out, "state.json unreadable: {}", floppies_format::error::render(&e));
        }
    }
    if let Some(m) = release_manifest(layout) {
        let _ = writeln!(out, "release manifest: bundle {} {}, k3s {}", m.bundle.version, m.bundle.arch, m.k3s.version);
    }
    if let Ok(o) = runner::capture_timeout(&k3s(layout), &["--version"], Duration::from_secs(5)) {
        let _ = writeln!(out, "{}", o.0.stdout.trim());
    }
    out
}

fn cpu_level() -> Result<String> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").context("could not read /proc/cpuinfo")?;
    let level = crate::host::cpu::level_from_cpuinfo(&cpuinfo);
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or("flags: (none found)");
    Ok(format!("x86-64 level: v{}\n{flags}\n", level.level))
}

fn install_logs(layout: &Layout) -> Result<String> {
    let dir = layout.log_dir();
    let mut logs: Vec<_> = match fs::read_dir(&dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => return Ok(format!("no install logs ({dir} does not exist)\n")),
    };
    logs.sort();
    let mut out = String::new();
    for path in logs.iter().rev().take(3) {
        let text = fs::read_to_string(path).unwrap_or_default();
        let start = text.len().saturating_sub(1 << 20);
        let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        let _ = writeln!(out, "===== {} (last {} bytes)\n{}", path.display(), text.len() - start, &text[start..]);
    }
    Ok(out)
}

fn kubectl(layout: &Layout, args: &[&str], limit: Duration) -> Result<String> {
    let kubeconfig = layout.kubeconfig();
    let mut full = vec!["kubectl", "--kubeconfig", kubeconfig.as_str()];
    full.extend_from_slice(args);
    let (out, _) = runner::capture_timeout(&k3s(layout), &full, limit)?;
    Ok(if out.success() { out.stdout } else { format!("{}{}", out.stdout, out.stderr) })
}

fn pods(layout: &Layout) -> Result<Vec<Value>> {
    let list = crate::kube::get_json(layout, &["pods", "-A"])?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

fn not_ready_pods(layout: &Layout, limit: Duration) -> Result<String> {
    let deadline = Instant::now() + limit;
    let mut out = String::new();
    for p in pods(layout)? {
        let phase = p["status"]["phase"].as_str().unwrap_or("");
        if phase == "Succeeded" || crate::kube::condition(&p, "Ready") {
            continue;
        }
        let (ns, name) = (p["metadata"]["namespace"].as_str().unwrap_or(""), p["metadata"]["name"].as_str().unwrap_or(""));
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            out.push_str("[time limit reached]\n");
            break;
        }
        let _ = writeln!(out, "===== {ns}/{name} ({phase})\n{}", kubectl(layout, &["describe", "pod", "-n", ns, name], left)?);
    }
    if out.is_empty() {
        out.push_str("every pod is Ready or completed\n");
    }
    Ok(out)
}

fn container_logs(layout: &Layout, limit: Duration) -> Result<String> {
    let deadline = Instant::now() + limit * 3;
    let mut out = String::new();
    let mut n = 0;
    for p in pods(layout)? {
        let (ns, name) = (p["metadata"]["namespace"].as_str().unwrap_or(""), p["metadata"]["name"].as_str().unwrap_or(""));
        for c in p["spec"]["containers"].as_array().into_iter().flatten() {
            let container = c["name"].as_str().unwrap_or("");
            n += 1;
            if n > MAX_CONTAINERS || Instant::now() >= deadline {
                out.push_str("[container limit or time limit reached]\n");
                return Ok(out);
            }
            for previous in [false, true] {
                let mut args = vec!["logs", "-n", ns, name, "-c", container, LOG_LINES];
                if previous {
                    args.push("--previous");
                }
                let text = kubectl(layout, &args, Duration::from_secs(10)).unwrap_or_else(|e| floppies_format::error::render(&e));
                let start = text.len().saturating_sub(LOG_BYTES);
                let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
                let _ = writeln!(out, "===== {ns}/{name} container {container}{}\n{}", if previous { " (previous)" } else { "" }, &text[start..]);
            }
        }
    }
    Ok(out)
}

fn http_check(layout: &Layout) -> Result<String> {
    let m = release_manifest(layout).context("no installed release: nothing to fetch")?;
    let mut out = String::new();
    for a in m.artifacts.iter().filter(|a| a.role == Role::Content) {
        let key = a.path.strip_prefix("content/").unwrap_or(&a.path);
        let started = Instant::now();
        let result = http::get("127.0.0.1:80".parse().expect("literal"), "localhost", &format!("/{key}"), Duration::from_secs(10), 1 << 30);
        let ms = started.elapsed().as_millis();
        match result {
            Ok(r) => {
                let (sha, _) = sha256_of(&r.body[..])?;
                let verdict = if r.status == 200 && sha == a.sha256 { "OK" } else { "MISMATCH" };
                let _ = writeln!(
                    out,
                    "GET http://127.0.0.1/{key}: HTTP {} {} bytes in {ms} ms, sha256 {sha} (bundle: {}) {verdict}",
                    r.status,
                    r.body.len(),
                    a.sha256
                );
            }
            Err(e) => {
                let _ = writeln!(out, "GET http://127.0.0.1/{key}: failed after {ms} ms: {}", floppies_format::error::render(&e));
            }
        }
    }
    Ok(out)
}
