//! Ports, the default route k3s needs, and the firewall.

use std::collections::BTreeSet;

use super::{Check, Facts};
use crate::runner;

/// A port a k3s server (or the app, through Traefik) binds, and who binds
/// it: a port taken by another program makes k3s fail with a bind error deep
/// in its log (or, for containerd's stream server, hang waiting for
/// containerd), so preflight names it first.
pub struct Port {
    pub number: u16,
    pub udp: bool,
    pub user: &'static str,
    /// Bound only where the control plane runs.
    pub servers_only: bool,
    /// Bound only by a server on embedded etcd.
    pub etcd_only: bool,
}

const fn tcp(number: u16, user: &'static str) -> Port {
    Port { number, udp: false, user, servers_only: false, etcd_only: false }
}

const fn server_tcp(number: u16, user: &'static str) -> Port {
    Port { number, udp: false, user, servers_only: true, etcd_only: false }
}

const fn etcd_tcp(number: u16, user: &'static str) -> Port {
    Port { number, udp: false, user, servers_only: true, etcd_only: true }
}

/// The machine's part in the cluster, which decides the ports it binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `install`: the control plane (on sqlite), the kubelet and the app's ingress.
    Server,
    /// `join` of a server, or a server moved to embedded etcd: also etcd's ports.
    EtcdServer,
    /// `join`: a kubelet and what every node runs (docs/upstream.md row 40).
    Agent,
}

/// What a k3s v1.35 node with its defaults binds (etcd's 2379/2380 only on a
/// server on embedded etcd; flannel's vxlan backend, so no wireguard ports), and the
/// app's HTTP and HTTPS, which ServiceLB's pods hold on every node. On an
/// agent, 6444 is k3s's local load balancer for the supervisor
/// (`--lb-server-port`), which a server's kube-apiserver holds instead.
pub const PORTS: &[Port] = &[
    server_tcp(6443, "k3s supervisor and API"),
    tcp(6444, "kube-apiserver behind k3s, or an agent's load balancer to the servers"),
    tcp(10248, "kubelet health"),
    tcp(10249, "kube-proxy metrics"),
    tcp(10250, "kubelet"),
    tcp(10256, "kube-proxy health"),
    server_tcp(10257, "kube-controller-manager"),
    server_tcp(10258, "k3s cloud-controller-manager"),
    server_tcp(10259, "kube-scheduler"),
    tcp(10010, "containerd's CRI stream server"),
    Port { number: 8472, udp: true, user: "flannel vxlan", servers_only: false, etcd_only: false },
    etcd_tcp(2379, "embedded etcd (clients)"),
    etcd_tcp(2380, "embedded etcd (peers)"),
    tcp(80, "the application (HTTP, ServiceLB on every node)"),
    tcp(443, "the application (HTTPS, ServiceLB on every node)"),
];

/// The ports a machine of this role needs free.
pub fn ports_for(role: Role) -> impl Iterator<Item = &'static Port> {
    PORTS.iter().filter(move |p| match role {
        Role::EtcdServer => true,
        Role::Server => !p.etcd_only,
        Role::Agent => !p.servers_only,
    })
}

/// The listening TCP ports of this host.
fn listening_now() -> BTreeSet<u16> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().flat_map(|t| listening_ports(&std::fs::read_to_string(t).unwrap_or_default())).collect()
}

/// Etcd's ports another program holds (`node add --role server` checks them
/// before it moves a running server to etcd, when k3s holds all the others).
pub fn etcd_ports_in_use() -> Vec<String> {
    let taken = listening_now();
    PORTS.iter().filter(|p| p.etcd_only && taken.contains(&p.number)).map(|p| format!("{} ({})", name(p), p.user)).collect()
}

pub fn checks(installed: bool, role: Role, facts: &mut Facts) -> Vec<Check> {
    let read = |t: &str| std::fs::read_to_string(t).unwrap_or_default();
    let tcp = listening_now();
    let mut udp = BTreeSet::new();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        udp.extend(bound_ports(&read(table)));
    }
    vec![ports(&tcp, &udp, installed, role), default_route(facts), ufw(facts), firewalld(facts)]
}

/// Local ports in LISTEN state (st 0A) in a /proc/net/tcp table.
pub fn listening_ports(table: &str) -> BTreeSet<u16> {
    local_ports(table, Some("0A"))
}

/// Local ports bound in a /proc/net/udp table, whatever the state.
pub fn bound_ports(table: &str) -> BTreeSet<u16> {
    local_ports(table, None)
}

fn local_ports(table: &str, state: Option<&str>) -> BTreeSet<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (state.is_none() || f.get(3).copied() == state).then(|| f.get(1)?.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok()))?
        })
        .collect()
}

fn ports(tcp: &BTreeSet<u16>, udp: &BTreeSet<u16>, installed: bool, role: Role) -> Check {
    let taken: Vec<&Port> = ports_for(role).filter(|p| if p.udp { udp.contains(&p.number) } else { tcp.contains(&p.number) }).collect();
    if taken.is_empty() {
        return Check::pass("ports", format!("ports {} are free", list(ports_for(role))));
    }
    if installed {
        // Our own k3s holds them on a re-run or an upgrade.
        return Check::pass("ports", format!("ports {} are in use by the installed floppies", list(taken.iter().copied())));
    }
    let named: Vec<String> = taken.iter().map(|p| format!("{} ({})", name(p), p.user)).collect();
    let first = taken[0];
    let ss = if first.udp { "ss -lunp" } else { "ss -ltnp" };
    Check::fail(
        "ports",
        format!("port(s) k3s needs already in use: {}", named.join(", ")),
        format!("stop the program that uses them (find it with 'sudo {ss} sport = :{}'), then run the install again", first.number),
    )
}

fn name(p: &Port) -> String {
    if p.udp {
        format!("{}/udp", p.number)
    } else {
        p.number.to_string()
    }
}

fn list<'a>(ports: impl Iterator<Item = &'a Port>) -> String {
    ports.map(name).collect::<Vec<_>>().join(", ")
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
        let none = BTreeSet::new();
        let taken: BTreeSet<u16> = [80].into_iter().collect();
        assert_eq!(ports(&taken, &none, false, Role::Server).result, super::super::Verdict::Fail);
        assert_eq!(ports(&taken, &none, true, Role::Server).result, super::super::Verdict::Pass);
        assert_eq!(ports(&none, &none, false, Role::Server).result, super::super::Verdict::Pass);
    }

    #[test]
    fn k3s_internal_ports_and_flannel_udp_are_checked() {
        let none = BTreeSet::new();
        let tcp: BTreeSet<u16> = [6444, 10010].into_iter().collect();
        let c = ports(&tcp, &none, false, Role::Server);
        assert!(c.message.contains("6444 (kube-apiserver behind k3s") && c.message.contains("10010 (containerd"), "{}", c.message);
        let udp: BTreeSet<u16> = [8472].into_iter().collect();
        let c = ports(&none, &udp, false, Role::Server);
        assert!(c.message.contains("8472/udp (flannel vxlan)"), "{}", c.message);
        assert!(c.remedy.as_deref().is_some_and(|r| r.contains("ss -lunp")), "{:?}", c.remedy);
        assert_eq!(ports(&udp, &none, false, Role::Server).result, super::super::Verdict::Pass, "TCP 8472 is not flannel's");
    }

    #[test]
    fn an_agent_needs_no_control_plane_port() {
        let none = BTreeSet::new();
        let control_plane: BTreeSet<u16> = [6443, 10257, 10258, 10259].into_iter().collect();
        assert_eq!(ports(&control_plane, &none, false, Role::Agent).result, super::super::Verdict::Pass, "an agent binds none of these");
        assert_eq!(ports(&control_plane, &none, false, Role::Server).result, super::super::Verdict::Fail);
        for shared in [80, 443, 6444, 10010, 10248, 10249, 10250, 10256] {
            let taken: BTreeSet<u16> = [shared].into_iter().collect();
            assert_eq!(ports(&taken, &none, false, Role::Agent).result, super::super::Verdict::Fail, "an agent needs {shared}");
        }
        let udp: BTreeSet<u16> = [8472].into_iter().collect();
        assert_eq!(ports(&none, &udp, false, Role::Agent).result, super::super::Verdict::Fail, "an agent needs flannel's 8472/udp");
        let free = ports(&none, &none, false, Role::Agent);
        assert!(!free.message.contains("6443") && free.message.contains("10250"), "{}", free.message);
    }

    #[test]
    fn etcd_ports_are_a_joining_servers_only() {
        let none = BTreeSet::new();
        let etcd: BTreeSet<u16> = [2379, 2380].into_iter().collect();
        assert_eq!(ports(&etcd, &none, false, Role::Server).result, super::super::Verdict::Pass, "a sqlite server binds no etcd port");
        assert_eq!(ports(&etcd, &none, false, Role::Agent).result, super::super::Verdict::Pass, "an agent runs no etcd");
        let c = ports(&etcd, &none, false, Role::EtcdServer);
        assert_eq!(c.result, super::super::Verdict::Fail);
        assert!(c.message.contains("2379 (embedded etcd (clients))") && c.message.contains("2380 (embedded etcd (peers))"), "{}", c.message);
        let control_plane: BTreeSet<u16> = [6443].into_iter().collect();
        assert_eq!(ports(&control_plane, &none, false, Role::EtcdServer).result, super::super::Verdict::Fail, "a server needs 6443");
    }

    #[test]
    fn bound_udp_ports_from_proc_net_udp() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  1: 00000000:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0
";
        assert_eq!(bound_ports(table).into_iter().collect::<Vec<_>>(), vec![8472]);
    }
}
