//! Ports, the default route k3s needs, and the firewall.

use std::collections::BTreeSet;

use super::{Check, Facts};
use crate::runner;

/// k3s's API server and kubelet, and the app's HTTP and HTTPS.
pub const PORTS: &[u16] = &[6443, 10250, 80, 443];

pub fn checks(installed: bool, facts: &mut Facts) -> Vec<Check> {
    let mut listening = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        listening.extend(listening_ports(&std::fs::read_to_string(table).unwrap_or_default()));
    }
    vec![ports(&listening, installed), default_route(facts), ufw(facts), firewalld(facts)]
}

/// Local ports in LISTEN state (st 0A) in a /proc/net/tcp table.
pub fn listening_ports(table: &str) -> BTreeSet<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"0A")).then(|| f.get(1)?.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok()))?
        })
        .collect()
}

fn ports(listening: &BTreeSet<u16>, installed: bool) -> Check {
    let taken: Vec<u16> = PORTS.iter().copied().filter(|p| listening.contains(p)).collect();
    if taken.is_empty() {
        return Check::pass("ports", format!("ports {} are free", list(PORTS)));
    }
    if installed {
        // Our own k3s holds them on a re-run or an upgrade.
        return Check::pass("ports", format!("ports {} are in use by the installed floppies", list(&taken)));
    }
    Check::fail(
        "ports",
        format!("port(s) {} already in use", list(&taken)),
        format!("stop the program that listens there (find it with 'sudo ss -ltnp sport = :{}'), then run the install again", taken[0]),
    )
}

fn list(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

fn default_route(facts: &mut Facts) -> Check {
    use crate::host::route;
    if route::has_ipv4_default_route() {
        return Check::pass("default-route", "an IPv4 default route exists");
    }
    facts.add_default_route = true;
    let why = if route::has_ipv6_default_route() {
        "only an IPv6 default route (k3s would make an IPv6-only node, outside the installer's IPv4 pod and service networks)"
    } else {
        "no default route (k3s needs one)"
    };
    Check::fixable("default-route", format!("{why}: install adds a dummy interface with an IPv4 default route of high metric, removed on uninstall"))
}

fn ufw(facts: &mut Facts) -> Check {
    match crate::host::ufw::status() {
        Some(s) if s.active => {
            facts.ufw_active = true;
            Check::fixable("ufw", "ufw is active: install adds rules for 6443/tcp, 80/tcp, 443/tcp and from 10.42.0.0/16 and 10.43.0.0/16, tagged 'floppies'")
        }
        Some(_) => Check::pass("ufw", "ufw is installed but inactive"),
        None => Check::pass("ufw", "ufw is not installed"),
    }
}

fn firewalld(facts: &mut Facts) -> Check {
    let active = runner::capture("systemctl", &["is-active", "--quiet", "firewalld"]).is_ok_and(|o| o.success());
    if active {
        facts.firewalld_active = true;
        Check::fixable("firewalld", "firewalld is active: install adds the k3s ports and the pod and service networks to its trusted zone")
    } else {
        Check::pass("firewalld", "firewalld is not running")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_ports_from_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
";
        let ports = listening_ports(table);
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), vec![80], "8080 is ESTABLISHED, not LISTEN");
    }

    #[test]
    fn a_taken_port_fails_unless_installed() {
        let taken: BTreeSet<u16> = [80].into_iter().collect();
        assert_eq!(ports(&taken, false).result, super::super::Verdict::Fail);
        assert_eq!(ports(&taken, true).result, super::super::Verdict::Pass);
    }
}
