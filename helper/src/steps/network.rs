//! Step 3: what k3s needs from the network, only where missing, and recorded
//! so uninstall removes exactly that:
//! - no default route: a dummy interface with a default route of high metric
//!   via a TEST-NET-3 address (as k3s's air-gap docs do; k3s rejects a
//!   link-local gateway), kept across reboots by a unit we own;
//! - ufw active: allow rules tagged 'floppies' (or disable/leave, per --ufw);
//! - firewalld active: the ports and the pod and service networks, trusted.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::fs;

use super::{InstallCx, Step, UfwMode, UninstallCx};
use crate::files::write_atomic;
use crate::host::ufw;
use crate::layout::{self, Layout, K3S_UNIT};
use crate::preflight::Facts;
use crate::runner;

pub struct Network;

pub const ROUTE_UNIT: &str = "floppies-default-route.service";
pub const DUMMY_LINK: &str = "floppies0";
const DUMMY_ADDR: &str = "203.0.113.254/31";
const DUMMY_GATEWAY: &str = "203.0.113.255";
const ROUTE_METRIC: &str = "9999";
/// The tag on every ufw rule we add.
pub const UFW_TAG: &str = "floppies";
/// The pod and service networks, so pods reach the host's own services
/// (k3s's advice for ufw); every machine of a cluster needs them.
pub const UFW_POD_RULES: &[&[&str]] = &[&["allow", "from", "10.42.0.0/16", "to", "any"], &["allow", "from", "10.43.0.0/16", "to", "any"]];
/// What install opens: k3s's API, the app's HTTP and HTTPS, and the pod and service networks (k3s's requirements).
const UFW_RULES: &[&[&str]] = &[&["allow", "6443/tcp"], &["allow", "80/tcp"], &["allow", "443/tcp"], UFW_POD_RULES[0], UFW_POD_RULES[1]];
const FIREWALLD_PORTS: &[&str] = &["6443/tcp", "80/tcp", "443/tcp"];
const FIREWALLD_SOURCES: &[&str] = &["10.42.0.0/16", "10.43.0.0/16"];

fn route_unit_text(ip: &str) -> String {
    format!(
        "\
# Written by floppies-installer because this host had no default route, which
# k3s needs; removed by 'floppies uninstall'.
[Unit]
Description=Dummy default route for k3s (floppies)
After=network.target
Before={k3s}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=-{ip} link add {link} type dummy
ExecStart={ip} link set {link} up
ExecStart={ip} addr replace {addr} dev {link}
ExecStart={ip} route replace default via {gw} dev {link} metric {metric}
ExecStop=-{ip} link delete {link}

[Install]
WantedBy=multi-user.target
",
        k3s = K3S_UNIT,
        link = DUMMY_LINK,
        addr = DUMMY_ADDR,
        gw = DUMMY_GATEWAY,
        metric = ROUTE_METRIC,
    )
}

fn facts(cx: &InstallCx) -> Facts {
    serde_json::from_value(cx.record("preflight")).unwrap_or_default()
}

impl Step for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn summary(&self) -> &'static str {
        "add the default route and firewall rules k3s needs, where missing"
    }

    fn undo_summary(&self) -> &'static str {
        "remove the default route and firewall rules install added"
    }

    fn plan(&self, cx: &InstallCx) -> Vec<String> {
        let f = facts(cx);
        let mut lines = Vec::new();
        if f.add_default_route {
            lines.push(format!(
                "add dummy interface {DUMMY_LINK} ({DUMMY_ADDR}) with a default route via {DUMMY_GATEWAY} metric {ROUTE_METRIC}, unit {ROUTE_UNIT}"
            ));
        }
        if f.ufw_active {
            match cx.opts.ufw {
                UfwMode::Keep => lines.extend(UFW_RULES.iter().map(|r| format!("ufw {} comment '{UFW_TAG}'", r.join(" ")))),
                UfwMode::Disable => lines.push("ufw disable (uninstall enables it again)".into()),
                UfwMode::Leave => lines.push("leave ufw as it is (--ufw leave): k3s may not work".into()),
            }
        }
        if f.firewalld_active {
            lines.push(format!("firewalld: open {} and trust {}", FIREWALLD_PORTS.join(", "), FIREWALLD_SOURCES.join(", ")));
        }
        if lines.is_empty() {
            lines.push("nothing to change".into());
        }
        lines
    }

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        let f = facts(cx);
        let route_ok = !f.add_default_route || crate::host::route::has_ipv4_default_route();
        Ok(route_ok && !(f.ufw_active && cx.opts.ufw == UfwMode::Keep && !ufw::missing(&ufw::owned(UFW_RULES))?.is_empty()))
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let f = facts(cx);
        let earlier = cx.record("network");
        let mut record = json!({
            "route_unit": earlier["route_unit"].as_bool().unwrap_or(false),
            "ufw_added": earlier["ufw_added"].clone(),
            "ufw_disabled": earlier["ufw_disabled"].as_bool().unwrap_or(false),
            "firewalld": earlier["firewalld"].as_bool().unwrap_or(false),
        });
        if f.add_default_route || cx.layout.unit_file(ROUTE_UNIT).exists() {
            add_route_unit(cx.layout)?;
            record["route_unit"] = json!(true);
        }
        if f.ufw_active {
            match cx.opts.ufw {
                UfwMode::Keep => {
                    record["ufw_added"] = Value::Array(ufw::add_missing(&ufw::owned(UFW_RULES), &record["ufw_added"], UFW_TAG)?);
                }
                UfwMode::Disable => {
                    runner::run("ufw", &["disable"])?;
                    record["ufw_disabled"] = json!(true);
                }
                UfwMode::Leave => {}
            }
        }
        if f.firewalld_active {
            for port in FIREWALLD_PORTS {
                runner::run("firewall-cmd", &["--permanent", &format!("--add-port={port}")])?;
            }
            for source in FIREWALLD_SOURCES {
                runner::run("firewall-cmd", &["--permanent", "--zone=trusted", &format!("--add-source={source}")])?;
            }
            runner::run("firewall-cmd", &["--reload"])?;
            record["firewalld"] = json!(true);
        }
        Ok(record)
    }

    fn undo(&self, cx: &UninstallCx, record: &Value) -> Result<()> {
        // The unit's presence proves we made the route, journal or not.
        let unit = cx.layout.unit_file(ROUTE_UNIT);
        if unit.exists() {
            let _ = runner::capture("systemctl", &["disable", "--now", ROUTE_UNIT]);
            fs::remove_file(&unit).with_context(|| format!("could not remove '{unit}'"))?;
            runner::run("systemctl", &["daemon-reload"])?;
        }
        if fs::symlink_metadata(format!("/sys/class/net/{DUMMY_LINK}")).is_ok() {
            runner::run("ip", &["link", "delete", DUMMY_LINK])?;
        }
        ufw::remove_added(&record["ufw_added"])?;
        // Rules tagged as ours that no record names (a journal lost or older): removed too.
        let listed = if which::which("ufw").is_ok() { runner::capture("ufw", &["show", "added"]).ok().filter(|o| o.success()) } else { None };
        if let Some(added) = listed.map(|o| o.stdout) {
            for words in ufw::tagged_rules(&added, UFW_TAG) {
                let mut args = vec!["delete"];
                args.extend(words.iter().map(String::as_str));
                runner::run("ufw", &args)?;
            }
        }
        if record["ufw_disabled"].as_bool() == Some(true) {
            runner::run("ufw", &["--force", "enable"])?;
        }
        if record["firewalld"].as_bool() == Some(true) {
            for port in FIREWALLD_PORTS {
                runner::run("firewall-cmd", &["--permanent", &format!("--remove-port={port}")])?;
            }
            for source in FIREWALLD_SOURCES {
                runner::run("firewall-cmd", &["--permanent", "--zone=trusted", &format!("--remove-source={source}")])?;
            }
            runner::run("firewall-cmd", &["--reload"])?;
        }
        Ok(())
    }
}

fn add_route_unit(layout: &Layout) -> Result<()> {
    // A fixed system path: root runs this unit at every boot.
    let ip = layout::system_binary("ip")?;
    let text = route_unit_text(ip.as_str());
    let path = layout.unit_file(ROUTE_UNIT);
    if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        write_atomic(&path, text.as_bytes(), 0o644)?;
        runner::run("systemctl", &["daemon-reload"])?;
    }
    runner::run("systemctl", &["enable", "--now", ROUTE_UNIT])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_unit_uses_a_test_net_gateway_with_a_high_metric() {
        let text = route_unit_text("/usr/sbin/ip");
        assert!(text.contains("route replace default via 203.0.113.255 dev floppies0 metric 9999"));
        assert!(text.contains("ExecStop=-/usr/sbin/ip link delete floppies0"));
        assert!(!text.contains("169.254"), "k3s rejects a link-local gateway");
    }
}
