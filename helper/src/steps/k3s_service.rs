//! Step 7: k3s as a systemd service, from a unit we write (nothing downloaded,
//! no install.sh). Undo stops it and removes everything a running k3s leaves
//! behind: processes, mounts, interfaces, namespaces and firewall rules.

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use serde_json::{json, Value};
use std::fs;

use super::{InstallCx, Step, UninstallCx};
use crate::files::write_atomic;
use crate::killall;
use crate::layout::{Layout, K3S_CONFIG_DIR, K3S_UNIT, OPT_DIR};
use crate::runner;

pub struct K3sService;

pub fn unit_path(layout: &Layout) -> Utf8PathBuf {
    layout.unit_file(K3S_UNIT)
}

/// Modelled on the unit k3s's install.sh writes, with our paths. Started
/// without blocking (`--no-block`); the wait step bounds the time it takes.
/// Like install.sh's, it leaves NotifyAccess at systemd's default (main):
/// k3s signals readiness from its main process and strips NOTIFY_SOCKET
/// from the containerd it starts. install.sh's EnvironmentFile lines
/// (/etc/default/%N, /etc/sysconfig/%N, k3s.service.env) are left out: they
/// carry the K3S_*/CONTAINERD_* variables and proxies install.sh captures,
/// while every setting here is in the config.yaml we write, and an air-gapped
/// host has no proxy to pass on. An env file would be a second, unrecorded
/// source of k3s settings.
pub fn unit_text() -> String {
    format!(
        "\
# Written by floppies-installer; removed by 'floppies uninstall'.
[Unit]
Description=k3s for the floppies application
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart={opt}/current/k3s/k3s server --config {etc}/config.yaml

[Install]
WantedBy=multi-user.target
",
        opt = OPT_DIR,
        etc = K3S_CONFIG_DIR
    )
}

impl Step for K3sService {
    fn name(&self) -> &'static str {
        "k3s-service"
    }

    fn summary(&self) -> &'static str {
        "install, enable and start the floppies-k3s systemd unit"
    }

    fn undo_summary(&self) -> &'static str {
        "stop k3s; kill its containers; unmount; delete its interfaces, namespaces and iptables rules; remove the unit"
    }

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        if fs::read_to_string(unit_path(cx.layout)).ok().as_deref() != Some(unit_text().as_str()) {
            return Ok(false);
        }
        let enabled = runner::capture("systemctl", &["is-enabled", "--quiet", K3S_UNIT])?.success();
        let active = runner::capture("systemctl", &["is-active", "--quiet", K3S_UNIT])?.success();
        Ok(enabled && active)
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let path = unit_path(cx.layout);
        write_atomic(&path, unit_text().as_bytes(), 0o644)?;
        runner::run("systemctl", &["daemon-reload"])?;
        runner::run("systemctl", &["enable", K3S_UNIT])?;
        runner::run("systemctl", &["start", "--no-block", K3S_UNIT])?;
        Ok(json!({ "unit": path }))
    }

    fn undo(&self, cx: &UninstallCx, _record: &Value) -> Result<()> {
        let path = unit_path(cx.layout);
        if path.exists() {
            // Ignore the result: a unit that never started cannot be stopped, which is fine.
            let _ = runner::capture("systemctl", &["disable", "--now", K3S_UNIT]);
            fs::remove_file(&path).with_context(|| format!("could not remove '{path}'"))?;
            runner::run("systemctl", &["daemon-reload"])?;
        }
        killall::clean_host(cx.layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_starts_our_k3s_with_our_config() {
        let text = unit_text();
        assert!(text.contains("ExecStart=/opt/floppies/current/k3s/k3s server --config /etc/rancher/k3s/config.yaml"));
        assert!(text.contains("KillMode=process"), "container processes must outlive a k3s restart");
    }

    #[test]
    fn unit_keeps_install_sh_notify_access_and_reads_no_env_file() {
        let text = unit_text();
        assert!(text.contains("Type=notify"));
        assert!(!text.contains("NotifyAccess"), "install.sh's unit leaves NotifyAccess at 'main'");
        assert!(!text.contains("EnvironmentFile"), "every k3s setting comes from our config.yaml");
    }
}
