//! What diagnose collects: one item per file in the support bundle. Each is
//! independent and time-boxed; a failure is recorded, never fatal.

use std::time::Duration;

use crate::layout::{Layout, APP_NAMESPACE, DATA_DIR, K3S_CONFIG_DIR, K3S_KUBECONFIG, K3S_UNIT, OPT_DIR, STATE_FILE};

/// Where an item's content comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A command line.
    Cmd(Vec<String>),
    /// A file on the host (read, bounded).
    File(String),
    /// `k3s kubectl ...` with our kubeconfig.
    Kubectl(Vec<String>),
    /// Computed by the helper.
    Func(Builtin),
}

#[derive(Clone, Copy, Debug)]
pub enum Builtin {
    Versions,
    CpuLevel,
    Preflight,
    InstallLogs,
    NotReadyPods,
    ContainerLogs,
    HttpCheck,
}

#[derive(Clone, Debug)]
pub struct Item {
    /// Path inside the bundle.
    pub path: String,
    pub source: Source,
    /// Needs k3s to answer.
    pub cluster: bool,
    /// Keep the end rather than the start when too large (logs).
    pub tail: bool,
}

pub const ITEM_TIMEOUT: Duration = Duration::from_secs(20);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(300);
/// Per file and in total; what is cut is recorded in the index.
pub const FILE_MAX: usize = 4 << 20;
pub const TOTAL_MAX: usize = 64 << 20;

fn cmd(path: &str, argv: &[&str]) -> Item {
    Item { path: path.into(), source: Source::Cmd(argv.iter().map(|s| s.to_string()).collect()), cluster: false, tail: false }
}

fn file(path: &str, host_path: &str) -> Item {
    Item { path: path.into(), source: Source::File(host_path.into()), cluster: false, tail: false }
}

fn kubectl(path: &str, args: &[&str]) -> Item {
    Item { path: path.into(), source: Source::Kubectl(args.iter().map(|s| s.to_string()).collect()), cluster: true, tail: false }
}

fn builtin(path: &str, b: Builtin, cluster: bool) -> Item {
    Item { path: path.into(), source: Source::Func(b), cluster, tail: false }
}

fn tail(mut item: Item) -> Item {
    item.tail = true;
    item
}

/// Everything diagnose collects, in order.
pub fn items(layout: &Layout) -> Vec<Item> {
    let unit = K3S_UNIT;
    let ns = APP_NAMESPACE;
    vec![
        builtin("host/versions.txt", Builtin::Versions, false),
        file("host/os-release.txt", "/etc/os-release"),
        cmd("host/uname.txt", &["uname", "-a"]),
        builtin("host/cpu-level.txt", Builtin::CpuLevel, false),
        file("host/cpuinfo.txt", "/proc/cpuinfo"),
        file("host/meminfo.txt", "/proc/meminfo"),
        cmd("host/df.txt", &["df", "-hT"]),
        cmd("host/df-inodes.txt", &["df", "-i"]),
        file("host/mounts.txt", "/proc/self/mounts"),
        cmd("host/ip-addr.txt", &["ip", "addr"]),
        cmd("host/ip-route.txt", &["ip", "route", "show", "table", "all"]),
        cmd("host/ip6-route.txt", &["ip", "-6", "route"]),
        cmd("host/ip-netns.txt", &["ip", "netns", "list"]),
        cmd("host/iptables-save.txt", &["iptables-save"]),
        cmd("host/ip6tables-save.txt", &["ip6tables-save"]),
        cmd("host/iptables-legacy-save.txt", &["iptables-legacy-save"]),
        cmd("host/iptables-nft-save.txt", &["iptables-nft-save"]),
        cmd("host/nft-ruleset.txt", &["nft", "list", "ruleset"]),
        cmd("host/ufw-status.txt", &["ufw", "status", "verbose"]),
        cmd("host/listening.txt", &["ss", "-ltnup"]),
        file("host/resolv.conf.txt", "/etc/resolv.conf"),
        // Which resolv.conf the kubelet got: k3s skips a stub (127.0.0.53) for
        // resolved's own, and writes one with 8.8.8.8 when neither names a
        // global nameserver, as on an air-gapped host (docs/upstream.md).
        file("host/resolved-resolv.conf.txt", "/run/systemd/resolve/resolv.conf"),
        file("host/k3s-resolv.conf.txt", "/var/lib/rancher/k3s/agent/etc/resolv.conf"),
        file("host/apparmor-enabled.txt", "/sys/module/apparmor/parameters/enabled"),
        cmd("host/timedatectl.txt", &["timedatectl", "status"]),
        tail(cmd("host/dmesg.txt", &["dmesg"])),
        cmd("host/systemctl-status.txt", &["systemctl", "status", "--no-pager", "-l", unit, "floppies-default-route.service"]),
        tail(cmd("host/journal-k3s.txt", &["journalctl", "-u", unit, "-n", "5000", "--no-pager"])),
        file("host/state.json", STATE_FILE),
        cmd("host/floppies-files.txt", &["ls", "-laR", OPT_DIR, DATA_DIR, K3S_CONFIG_DIR]),
        file("host/k3s-config.yaml", "/etc/rancher/k3s/config.yaml"),
        file("host/k3s-kubeconfig.yaml", K3S_KUBECONFIG),
        file("host/k3s-manifest-floppies.yaml", "/var/lib/rancher/k3s/server/manifests/floppies.yaml"),
        builtin("host/install-logs.txt", Builtin::InstallLogs, false),
        builtin("host/preflight.json", Builtin::Preflight, false),
        kubectl("cluster/readyz.txt", &["get", "--raw", "/readyz?verbose"]),
        kubectl("cluster/nodes.txt", &["get", "nodes", "-o", "wide"]),
        kubectl("cluster/nodes-describe.txt", &["describe", "nodes"]),
        kubectl("cluster/pods.txt", &["get", "pods", "-A", "-o", "wide"]),
        kubectl("cluster/pods.json", &["get", "pods", "-A", "-o", "json"]),
        kubectl("cluster/events.txt", &["get", "events", "-A", "--sort-by=.lastTimestamp"]),
        builtin("cluster/describe-not-ready.txt", Builtin::NotReadyPods, true),
        builtin("cluster/logs.txt", Builtin::ContainerLogs, true),
        kubectl("cluster/helmcharts.yaml", &["get", "helmcharts", "-A", "-o", "yaml"]),
        tail(kubectl("cluster/helm-install-job.txt", &["logs", "-n", "kube-system", "job/helm-install-floppies", "--tail=500"])),
        kubectl("cluster/pv-pvc.txt", &["get", "pv,pvc", "-A", "-o", "wide"]),
        Item { path: "cluster/images.txt".into(), source: Source::Cmd(vec![k3s(layout), "crictl".into(), "images".into()]), cluster: true, tail: false },
        Item {
            path: "cluster/certificates.txt".into(),
            source: Source::Cmd(vec![k3s(layout), "certificate".into(), "check".into(), "--output".into(), "table".into()]),
            cluster: true,
            tail: false,
        },
        kubectl("app/pods.txt", &["get", "pods,deployments,jobs,services,ingresses,networkpolicies", "-n", ns, "-o", "wide"]),
        builtin("app/http-check.txt", Builtin::HttpCheck, true),
    ]
}

/// Our k3s binary.
pub fn k3s(layout: &Layout) -> String {
    layout.current_k3s().into_string()
}

/// How an item shows in `--list` and in the index.
pub fn describe(item: &Item) -> String {
    match &item.source {
        Source::Cmd(argv) => argv.join(" "),
        Source::File(p) => format!("read {p}"),
        Source::Kubectl(args) => format!("k3s kubectl {}", args.join(" ")),
        Source::Func(b) => format!("built in: {b:?}"),
    }
}
