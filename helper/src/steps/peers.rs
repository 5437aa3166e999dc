//! The firewall between the cluster's machines, where ufw is on and kept.
//! k3s's inbound rules (docs/upstream.md row 29): every machine receives
//! flannel VXLAN (8472/udp) and the kubelet (10250/tcp) from every other, and
//! a server on embedded etcd receives 2379-2380/tcp from the other servers.
//! Machines that join later are not known yet, so the rules admit the network
//! of the interface the cluster talks on (and each server outside it), never
//! anyone: k3s warns that VXLAN open to the world opens the pod network to it.
//! `node add` runs the step here on a server; join's own firewall step uses the rules too.

use anyhow::Result;
use serde_json::{json, Value};
use std::net::IpAddr;

use super::{network::UFW_TAG, InstallCx, Step, UninstallCx};
use crate::host::{addr, ufw};
use crate::joinfile::server_host_port;

/// The journal entry of node add's rules.
pub const STEP: &str = "peer-firewall";

/// The ports every machine receives from the others, and a server's etcd ports.
const NODE_PORTS: &[(&str, &str)] = &[("10250", "tcp"), ("8472", "udp")];
const ETCD_PORTS: (&str, &str) = ("2379:2380", "tcp");

/// What to admit: NETWORK (this host's, where the cluster talks), then each
/// of SERVERS (URLs) whose host lies outside it, in order, once each.
pub fn sources(network: Option<&str>, servers: &[String]) -> Vec<String> {
    let mut out: Vec<String> = network.into_iter().map(String::from).collect();
    for s in servers {
        let Ok((host, _)) = server_host_port(s) else { continue };
        let inside = match (network, host.parse::<IpAddr>()) {
            (Some(net), Ok(ip)) => addr::contains(net, ip),
            _ => false,
        };
        if !inside && !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

/// The network this host reaches the cluster on: that of ADDRESS, one of its own.
pub fn own_network(address: &str) -> Option<String> {
    address.parse::<IpAddr>().ok().and_then(addr::local_network)
}

/// The ufw rules (the words given to `ufw`) admitting the cluster's traffic
/// from each of SOURCES; with ETCD, a server's etcd ports too.
pub fn rules(sources: &[String], etcd: bool) -> Vec<Vec<String>> {
    let mut ports: Vec<(&str, &str)> = NODE_PORTS.to_vec();
    if etcd {
        ports.push(ETCD_PORTS);
    }
    let mut out = Vec::new();
    for source in sources {
        for (port, proto) in &ports {
            out.push(["allow", "from", source.as_str(), "to", "any", "port", port, "proto", proto].iter().map(|w| w.to_string()).collect());
        }
    }
    out
}

/// True when ufw is installed and on (`ufw status`: slow, so asked once).
pub fn ufw_active() -> bool {
    ufw::status().is_some_and(|s| s.active)
}

/// node add's step on a server: the rules, where ufw is on (ACTIVE, asked
/// once) and the user keeps it (`--ufw keep`); RULES is empty for uninstall,
/// which needs only the record.
pub struct PeerFirewall {
    pub rules: Vec<Vec<String>>,
    pub keep: bool,
    pub active: bool,
}

impl PeerFirewall {
    /// True when the rules go in: ufw is on and kept.
    pub fn applies(&self) -> bool {
        self.keep && self.active
    }

    /// What the step does on this host, a line each.
    pub fn describe(&self) -> Vec<String> {
        if !self.active {
            vec!["ufw is not active: nothing to change".into()]
        } else if !self.keep {
            vec!["ufw is on and left as it is (--ufw leave): allow 8472/udp and 10250/tcp (and 2379-2380/tcp between servers) from the other machines yourself"
                .into()]
        } else if self.rules.is_empty() {
            vec!["ufw is on, but this machine's network is not known: allow 8472/udp and 10250/tcp (and 2379-2380/tcp between servers) from the other machines yourself".into()]
        } else {
            self.rules.iter().map(|r| format!("ufw {} comment '{UFW_TAG}'", r.join(" "))).collect()
        }
    }
}

impl Step for PeerFirewall {
    fn name(&self) -> &'static str {
        STEP
    }
    fn summary(&self) -> &'static str {
        "where ufw is on: allow VXLAN and the kubelet (a server also etcd) from the cluster's network"
    }
    fn undo_summary(&self) -> &'static str {
        "remove the ufw rules node add added"
    }
    fn plan(&self, _cx: &InstallCx) -> Vec<String> {
        self.describe()
    }
    fn done(&self, _cx: &InstallCx) -> Result<bool> {
        Ok(!self.applies() || ufw::missing(&self.rules)?.is_empty())
    }
    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let earlier = cx.record(STEP)["ufw_added"].clone();
        let added = if self.applies() { ufw::add_missing(&self.rules, &earlier, UFW_TAG)? } else { earlier.as_array().cloned().unwrap_or_default() };
        Ok(json!({ "ufw_added": added }))
    }
    fn undo(&self, _cx: &UninstallCx, record: &Value) -> Result<()> {
        ufw::remove_added(&record["ufw_added"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| format!("https://{h}:6443")).collect()
    }

    fn lines(rules: &[Vec<String>]) -> Vec<String> {
        rules.iter().map(|r| r.join(" ")).collect()
    }

    #[test]
    fn every_machine_admits_vxlan_and_the_kubelet_from_the_network() {
        assert_eq!(
            lines(&rules(&["10.77.0.0/24".into()], false)),
            ["allow from 10.77.0.0/24 to any port 10250 proto tcp", "allow from 10.77.0.0/24 to any port 8472 proto udp"]
        );
    }

    #[test]
    fn a_server_on_etcd_also_admits_etcd_and_nothing_is_open_to_anyone() {
        let r = lines(&rules(&["10.77.0.0/24".into(), "192.0.2.7".into()], true));
        assert_eq!(r.len(), 6);
        assert!(r.contains(&"allow from 192.0.2.7 to any port 2379:2380 proto tcp".to_string()));
        assert!(r.iter().all(|l| l.starts_with("allow from ")), "a rule without a source: {r:?}");
    }

    #[test]
    fn servers_inside_the_network_add_no_source_and_those_outside_do() {
        let servers = urls(&["10.77.0.1", "192.0.2.7", "[fd00::1]", "192.0.2.7"]);
        assert_eq!(sources(Some("10.77.0.0/24"), &servers), ["10.77.0.0/24", "192.0.2.7", "fd00::1"]);
        assert_eq!(sources(None, &urls(&["10.77.0.1"])), ["10.77.0.1"], "without a network, each server by itself");
        assert!(sources(None, &[]).is_empty());
    }

    #[test]
    fn undo_of_a_record_without_rules_runs_nothing() {
        assert!(ufw::remove_added(&Value::Null).is_ok());
        assert!(ufw::remove_added(&json!([])).is_ok());
    }
}
