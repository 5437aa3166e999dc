//! summary.txt: the likely problem first, from what the host and k3s say.

use std::fmt::Write as _;
use std::time::Duration;

use super::Entry;
use crate::journal::Journal;
use crate::layout::{Layout, K3S_UNIT};
use crate::runner;

/// Findings, most likely cause first; a healthy host gets one reassuring line.
pub fn findings(layout: &Layout, cluster: bool) -> Vec<String> {
    let mut out = Vec::new();
    let journal = Journal::load(&layout.state_file()).ok().flatten();
    if journal.is_none() {
        out.push("floppies is not installed on this host (no /var/lib/floppies/state.json)".to_string());
    }
    if journal.is_some() {
        let state = runner::capture("systemctl", &["is-active", K3S_UNIT]).map(|o| o.stdout.trim().to_string()).unwrap_or_default();
        if state != "active" {
            out.push(format!("k3s is not running: {} is '{}'", K3S_UNIT, if state.is_empty() { "unknown" } else { &state }));
        } else if !cluster {
            out.push("k3s runs but its API does not answer".into());
        }
    }
    if cluster {
        out.extend(cluster_findings(layout));
        out.extend(tlsstore_findings(layout));
    }
    out.extend(disk_full());
    if !crate::host::route::has_ipv4_default_route() {
        out.push("no IPv4 default route: k3s needs one, or it makes an IPv6-only node (install adds a dummy route; was it removed?)".into());
    }
    if let Some(j) = &journal {
        let variant = j.entry("preflight").and_then(|e| e.record["image_variant"].as_str().map(str::to_string)).unwrap_or_default();
        let level = crate::host::cpu::level_from_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()).level;
        if std::env::consts::ARCH == "x86_64" && level < 2 && variant != "cpuv1" {
            out.push(format!("CPU level mismatch: this CPU is x86-64-v{level}, but the '{variant}' MinIO image needs v2"));
        }
    }
    out.extend(certificate_expiry(layout));
    // A symptom, so after its likely causes.
    if let Some(j) = journal.as_ref().filter(|j| !j.complete) {
        out.push(format!("the last install did not finish; last step done: {}", j.steps.last().map_or("none", |e| e.name.as_str())));
    }
    if out.is_empty() {
        out.push("no problem found: k3s runs, the node is Ready and the application is ready".into());
    }
    out
}

fn cluster_findings(layout: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(nodes) = crate::kube::get_json(layout, &["nodes"]) {
        let (bad, total) = crate::kube::nodes_not_ready(&nodes);
        if total == 0 {
            out.push("no node has registered with k3s".into());
        }
        out.extend(bad.into_iter().map(|n| format!("node {n} is NotReady")));
    }
    if let Ok(pods) = crate::kube::get_json(layout, &["pods", "-A"]) {
        for p in pods["items"].as_array().into_iter().flatten() {
            for cs in p["status"]["containerStatuses"].as_array().into_iter().flatten() {
                if cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" {
                    let last = cs["lastState"]["terminated"]["message"]
                        .as_str()
                        .or(cs["lastState"]["terminated"]["reason"].as_str())
                        .and_then(|m| m.lines().rev().find(|l| !l.trim().is_empty()))
                        .unwrap_or("no message");
                    out.push(format!(
                        "pod {}/{} container {} is crash-looping ({} restarts); last error: {last}",
                        p["metadata"]["namespace"].as_str().unwrap_or(""),
                        p["metadata"]["name"].as_str().unwrap_or(""),
                        cs["name"].as_str().unwrap_or(""),
                        cs["restartCount"].as_u64().unwrap_or(0)
                    ));
                }
            }
        }
    }
    out
}

/// A second TLSStore named `default`, anywhere in the cluster: Traefik then
/// drops every `default` store (ours with it) and serves its self-signed
/// certificate, logging "Default TLS Stores defined in multiple namespaces".
fn tlsstore_findings(layout: &Layout) -> Vec<String> {
    crate::kube::get_json(layout, &["tlsstores.traefik.io", "-A"]).ok().and_then(|list| duplicate_default_tlsstores(&list)).into_iter().collect()
}

/// The finding for a TLSStore list (kubectl's JSON) with more than one
/// store named `default`.
pub fn duplicate_default_tlsstores(list: &serde_json::Value) -> Option<String> {
    let mut namespaces: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["metadata"]["name"] == "default")
        .filter_map(|t| t["metadata"]["namespace"].as_str())
        .collect();
    namespaces.sort_unstable();
    (namespaces.len() > 1).then(|| {
        format!(
            "TLSStore 'default' exists in {} namespaces ({}): Traefik ignores all of them and serves its self-signed certificate; keep only one (ours is in the floppies namespace)",
            namespaces.len(),
            namespaces.join(", ")
        )
    })
}

/// Filesystems under our paths that are 95% full or more.
fn disk_full() -> Vec<String> {
    let mut out = Vec::new();
    for path in ["/", "/var/lib", "/opt"] {
        let Ok(o) = runner::capture("df", &["-P", path]) else { continue };
        let Some(line) = o.stdout.lines().nth(1) else { continue };
        let f: Vec<&str> = line.split_whitespace().collect();
        if let Some(pct) = f.get(4).and_then(|p| p.trim_end_matches('%').parse::<u32>().ok()) {
            if pct >= 95 {
                out.push(format!("disk almost full: {} is {pct}% used (mounted on {})", f[0], f.get(5).unwrap_or(&"?")));
            }
        }
    }
    out.dedup();
    out
}

/// Our server certificate within 30 days of expiry (openssl's own check), and k3s's warnings.
fn certificate_expiry(layout: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    let cert = layout.tls_dir().join("server.crt");
    if cert.is_file() {
        if let Ok(o) = runner::capture("openssl", &["x509", "-checkend", "2592000", "-noout", "-in", cert.as_str()]) {
            if o.code == Some(1) {
                out.push(format!("the TLS certificate {cert} expires within 30 days"));
            }
        }
    }
    if let Ok((o, _)) = runner::capture_timeout(&super::collect::k3s(layout), &["certificate", "check", "--output", "table"], Duration::from_secs(10)) {
        for line in o.stdout.lines().filter(|l| l.contains("WARNING") || l.contains("EXPIRED")) {
            out.push(format!("k3s certificate: {}", line.trim()));
        }
    }
    out
}

pub fn render(findings: &[String], entries: &[Entry]) -> String {
    let mut out = format!("floppies diagnose on {}\n\nLikely problems, most likely first:\n", super::hostname());
    for (i, f) in findings.iter().enumerate() {
        let _ = writeln!(out, "  {}. {f}", i + 1);
    }
    let skipped = entries.iter().filter(|e| e.skipped.is_some()).count();
    let failed = entries.iter().filter(|e| e.error.is_some() || e.timed_out).count();
    let _ = write!(
        out,
        "\nCollected {} files ({skipped} skipped, {failed} with errors or time-outs); index.json lists each with its\n\
         command, exit code, duration, truncation and redaction count. Secrets were redacted before writing.\n",
        entries.len() - skipped
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(name: &str, namespace: &str) -> serde_json::Value {
        json!({ "metadata": { "name": name, "namespace": namespace } })
    }

    #[test]
    fn a_second_default_tlsstore_is_named_with_both_namespaces() {
        let two = json!({ "items": [store("default", "floppies"), store("other", "x"), store("default", "kube-system")] });
        let finding = duplicate_default_tlsstores(&two).expect("two default stores are a problem");
        assert!(finding.contains("2 namespaces (floppies, kube-system)"), "{finding}");
        let one = json!({ "items": [store("default", "floppies"), store("mine", "kube-system")] });
        assert_eq!(duplicate_default_tlsstores(&one), None);
        assert_eq!(duplicate_default_tlsstores(&json!({ "items": [] })), None);
    }
}
