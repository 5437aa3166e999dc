//! Step 6: records, before k3s first starts, what k3s, the kubelet and kube-proxy
//! change on the host outside their own directories, and puts it back on
//! uninstall: kernel settings (sysctls, nf_conntrack's hash size) and the pod
//! log directories. What sets each setting upstream is in docs/upstream.md.

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::fs;

use super::{InstallCx, Step, UninstallCx};
use crate::layout::Layout;
use crate::runner;

pub struct HostBaseline;

/// Kernel settings k3s v1.35 changes at start (pkg/agent/syssetup), the
/// kubelet (setupKernelTunables) and kube-proxy (route_localnet, conntrack).
pub const SETTINGS: &[&str] = &[
    "/proc/sys/net/ipv4/conf/all/forwarding",
    "/proc/sys/net/ipv4/conf/default/forwarding",
    "/proc/sys/net/ipv6/conf/all/forwarding",
    "/proc/sys/net/ipv6/conf/default/forwarding",
    "/proc/sys/net/core/devconf_inherit_init_net",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
    "/proc/sys/net/netfilter/nf_conntrack_max",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal",
    "/proc/sys/net/netfilter/nf_conntrack_udp_timeout",
    "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream",
    "/sys/module/nf_conntrack/parameters/hashsize",
    "/proc/sys/net/ipv4/conf/all/route_localnet",
    "/proc/sys/vm/overcommit_memory",
    "/proc/sys/vm/panic_on_oom",
    "/proc/sys/kernel/panic",
    "/proc/sys/kernel/panic_on_oops",
    "/proc/sys/kernel/keys/root_maxkeys",
    "/proc/sys/kernel/keys/root_maxbytes",
];

/// Where the kubelet writes pod and container logs.
pub const POD_LOG_DIRS: &[&str] = &["/var/log/pods", "/var/log/containers"];

/// The current value of each setting that exists (a setting of a module
/// that is not loaded does not).
pub fn read_settings(paths: &[String]) -> Map<String, Value> {
    paths.iter().filter_map(|p| fs::read_to_string(p).ok().map(|v| (p.clone(), json!(v.trim())))).collect()
}

/// Writes back each recorded value that differs now; names every one it could not.
pub fn restore_settings(recorded: &Map<String, Value>) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    let mut failed = Vec::new();
    for (path, value) in recorded {
        let Some(value) = value.as_str() else { continue };
        match fs::read_to_string(path) {
            Ok(now) if now.trim() == value => {}
            Ok(now) => match fs::write(path, value) {
                Ok(()) => {
                    runner::log_line(&format!("== restored {path}: {} -> {value}", now.trim()));
                    restored.push(path.clone());
                }
                Err(e) => failed.push(format!("'{path}' ({} now, {value} before install): {e}", now.trim())),
            },
            // Its module was unloaded since: nothing holds the value any more.
            Err(_) => {}
        }
    }
    if !failed.is_empty() {
        bail!("could not restore {} kernel setting(s): {}", failed.len(), failed.join("; "));
    }
    Ok(restored)
}

/// Removes what the kubelet wrote into the pod log directories, and each
/// directory that was not there before install.
pub fn remove_pod_logs(dirs: &[String], existed: &[String]) -> Result<()> {
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            // Entries of /var/log/containers are symlinks: never follow them.
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let removed = if is_dir { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            removed.with_context(|| format!("could not remove '{}'", path.display()))?;
        }
        if !existed.contains(dir) {
            fs::remove_dir(dir).with_context(|| format!("could not remove '{dir}'"))?;
        }
    }
    Ok(())
}

fn setting_paths(layout: &Layout) -> Vec<String> {
    SETTINGS.iter().map(|p| layout.host(p).to_string()).collect()
}

fn log_dirs(layout: &Layout) -> Vec<String> {
    POD_LOG_DIRS.iter().map(|p| layout.host(p).to_string()).collect()
}

impl Step for HostBaseline {
    fn name(&self) -> &'static str {
        "host-baseline"
    }

    fn summary(&self) -> &'static str {
        "record the kernel settings k3s and the kubelet change, and whether the pod log directories exist"
    }

    fn undo_summary(&self) -> &'static str {
        "put the recorded kernel settings back and remove the pods' logs"
    }

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        Ok(cx.record(self.name()).get("settings").is_some())
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let existed: Vec<String> = log_dirs(cx.layout).into_iter().filter(|d| fs::symlink_metadata(d).is_ok()).collect();
        Ok(json!({ "settings": read_settings(&setting_paths(cx.layout)), "pod_log_dirs_existed": existed }))
    }

    fn undo(&self, cx: &UninstallCx, record: &Value) -> Result<()> {
        // Without a record nothing is known of the host before k3s: change nothing.
        let Some(settings) = record.get("settings").and_then(Value::as_object) else { return Ok(()) };
        let existed: Vec<String> = record["pod_log_dirs_existed"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
        remove_pod_logs(&log_dirs(cx.layout), &existed)?;
        restore_settings(settings)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("floppies-baseline-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn settings_changed_since_are_put_back_and_missing_ones_skipped() {
        let d = scratch("settings");
        let (a, b, gone) = (d.join("a"), d.join("b"), d.join("gone"));
        fs::write(&a, "0\n").unwrap();
        fs::write(&b, "65536\n").unwrap();
        let paths: Vec<String> = [&a, &b, &gone].iter().map(|p| p.display().to_string()).collect();
        let recorded = read_settings(&paths);
        assert_eq!(recorded.len(), 2, "a setting that does not exist is not recorded");
        fs::write(&a, "1\n").unwrap(); // as k3s sets forwarding
        assert_eq!(restore_settings(&recorded).unwrap(), vec![paths[0].clone()], "only the changed one is written");
        assert_eq!(fs::read_to_string(&a).unwrap(), "0");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn pod_logs_go_and_only_new_directories_with_them() {
        let d = scratch("logs");
        let (pods, containers) = (d.join("pods"), d.join("containers"));
        fs::create_dir_all(pods.join("kube-system_coredns_1/coredns")).unwrap();
        fs::write(pods.join("kube-system_coredns_1/coredns/0.log"), "x").unwrap();
        fs::create_dir_all(&containers).unwrap();
        let outside = d.join("outside.log");
        fs::write(&outside, "kept").unwrap();
        std::os::unix::fs::symlink(&outside, containers.join("coredns_kube-system_coredns-1.log")).unwrap();
        let dirs = vec![pods.display().to_string(), containers.display().to_string()];
        remove_pod_logs(&dirs, &[containers.display().to_string()]).unwrap();
        assert!(!pods.exists(), "made by the kubelet: removed");
        assert!(containers.exists() && fs::read_dir(&containers).unwrap().next().is_none(), "there before: kept, emptied");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "kept", "a symlink's target is never touched");
        fs::remove_dir_all(&d).unwrap();
    }
}
