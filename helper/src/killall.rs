//! What k3s-killall.sh does, for our uninstall: after the service stops,
//! kill container processes, stop the kubelet's kubepods slices, unmount,
//! delete CNI namespaces and interfaces (the pods' veths first), remove our
//! containers' state in /run/containerd (`shim_state`), and remove
//! k3s's firewall rules, iptables and native nftables alike. Every part is
//! idempotent.

use anyhow::{Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::fs;

use crate::runner;

/// Mount points below these are k3s's (longest first when unmounting).
const MOUNT_ROOTS: &[&str] = &["/run/k3s", "/var/lib/kubelet/pods", "/var/lib/kubelet/plugins", "/var/lib/rancher/k3s", "/run/netns/cni-"];
/// Interfaces flannel, the CNI bridge and kube-proxy create.
const INTERFACES: &[&str] = &["cni0", "flannel.1", "flannel-v6.1", "kube-ipvs0", "flannel-wg", "flannel-wg-v6"];

/// nftables tables of these names are k3s's components' (kube-proxy's
/// nftables mode, flannel's, CNI plugins'), compared case-insensitively.
const NFT_TABLE_MARKS: &[&str] = &["kube", "cni", "flannel"];

pub fn clean_host(layout: &crate::layout::Layout) -> Result<()> {
    kill_containers()?;
    stop_kubepods_slices()?;
    // While the /run/netns mounts still pin the pods' namespaces, so the
    // veths are there to delete rather than left to namespace teardown.
    delete_pod_veths()?;
    unmount_all()?;
    delete_netns()?;
    delete_interfaces()?;
    // What the shims and containerd keep outside /run/k3s, ours only.
    crate::shim_state::clean(layout.root())?;
    delete_nft_tables()?;
    if crate::fault::active("skip-iptables-cleanup") {
        crate::runner::log_line("== test fault: iptables cleanup skipped");
        return Ok(());
    }
    crate::host::iptables::cleanup_all_backends()?;
    Ok(())
}

/// Under systemd the kubelet's cgroup driver makes transient units
/// (kubepods.slice and below); with their processes gone, stop them.
fn stop_kubepods_slices() -> Result<()> {
    if fs::symlink_metadata("/run/systemd/system").is_err() {
        return Ok(());
    }
    let out = runner::capture("systemctl", &["list-units", "--all", "--plain", "--no-legend", "kubepods*.slice"])?;
    if out.success() && out.stdout.split_whitespace().any(|w| w.starts_with("kubepods") && w.ends_with(".slice")) {
        // Stopping the parent stops every slice and scope below it.
        runner::run("systemctl", &["stop", "kubepods.slice"])?;
    }
    Ok(())
}

/// The interfaces enslaved to BRIDGE, from SYS_NET (/sys/class/net).
pub fn bridge_ports(sys_net: &std::path::Path, bridge: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(sys_net) else { return Vec::new() };
    let mut ports: Vec<String> = entries
        .flatten()
        .filter(|e| fs::read_link(e.path().join("master")).ok().and_then(|t| t.file_name().map(|n| n == bridge)).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ports.sort();
    ports
}

/// (family, name) of the tables in `nft list tables` output that are k3s's.
pub fn k3s_nft_tables(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some("table"), Some(family), Some(name)) => Some((family.to_string(), name.to_string())),
                _ => None,
            }
        })
        .filter(|(_, name)| NFT_TABLE_MARKS.iter().any(|m| name.to_ascii_lowercase().contains(m)))
        .collect()
}

/// Native nftables tables k3s's components made (iptables-nft's own tables,
/// `ip filter` and the like, are cleaned rule by rule above).
fn delete_nft_tables() -> Result<()> {
    if which::which("nft").is_err() {
        return Ok(());
    }
    let out = runner::capture("nft", &["list", "tables"])?;
    if !out.success() {
        return Ok(());
    }
    for (family, name) in k3s_nft_tables(&out.stdout) {
        runner::run("nft", &["delete", "table", &family, &name])?;
    }
    Ok(())
}

/// True for a k3s container shim's command line (k3s/data/HASH/bin/containerd-shim*).
pub fn is_shim(cmdline: &str) -> bool {
    cmdline.split(['\0', ' ']).next().is_some_and(|exe| exe.contains("/k3s/data/") && exe.contains("/bin/containerd-shim"))
}

/// (pid, parent pid, command line) of every process.
fn processes() -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The command name in stat may hold spaces and parentheses: ppid follows the last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse().ok());
        let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if let Some(ppid) = ppid {
            out.push((pid, ppid, cmdline));
        }
    }
    out
}

/// Kills every shim and all its descendants.
fn kill_containers() -> Result<()> {
    let procs = processes();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid, _) in &procs {
        children.entry(*ppid).or_default().push(*pid);
    }
    let mut doomed = BTreeSet::new();
    let mut stack: Vec<u32> = procs.iter().filter(|(_, _, c)| is_shim(c)).map(|(p, _, _)| *p).collect();
    while let Some(pid) = stack.pop() {
        if doomed.insert(pid) {
            stack.extend(children.get(&pid).into_iter().flatten());
        }
    }
    if doomed.is_empty() {
        return Ok(());
    }
    let pids: Vec<String> = doomed.iter().map(u32::to_string).collect();
    let mut args = vec!["-9"];
    args.extend(pids.iter().map(String::as_str));
    // Some may have exited meanwhile; kill's exit code says nothing useful then.
    runner::capture("kill", &args)?;
    Ok(())
}

/// Mount points under k3s's roots, deepest first.
pub fn k3s_mounts(mounts: &str) -> Vec<String> {
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| MOUNT_ROOTS.iter().any(|r| p.starts_with(r)))
        .collect();
    points.sort();
    points.dedup();
    points.reverse();
    points
}

fn unmount_all() -> Result<()> {
    let mounts = fs::read_to_string("/proc/self/mounts").context("could not read /proc/self/mounts")?;
    for point in k3s_mounts(&mounts) {
        let out = runner::capture("umount", &[&point])?;
        if !out.success() {
            // Busy: detach it, as k3s-killall does with a lazy unmount.
            runner::run("umount", &["-l", &point])?;
        }
    }
    Ok(())
}

fn delete_netns() -> Result<()> {
    let Ok(entries) = fs::read_dir("/run/netns") else { return Ok(()) };
    let mut deleted = false;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("cni-") {
            runner::run("ip", &["netns", "delete", &name])?;
            deleted = true;
        }
    }
    if deleted {
        // containerd made /run/netns for them; it goes if nothing else is in it
        // (someone's namespace, or an 'ip netns' mount point, keeps it).
        let _ = fs::remove_dir("/run/netns");
    }
    Ok(())
}

/// The veths on cni0, as k3s-killall.sh deletes them before cni0; one that
/// went with its namespace meanwhile is not an error.
fn delete_pod_veths() -> Result<()> {
    for port in bridge_ports(std::path::Path::new("/sys/class/net"), "cni0") {
        let out = runner::capture("ip", &["link", "delete", &port])?;
        if !out.success() && fs::symlink_metadata(format!("/sys/class/net/{port}")).is_ok() {
            anyhow::bail!("could not delete the pod interface '{port}' on cni0: {}", out.stderr.trim());
        }
    }
    Ok(())
}

fn delete_interfaces() -> Result<()> {
    for name in INTERFACES {
        if fs::symlink_metadata(format!("/sys/class/net/{name}")).is_ok() {
            runner::run("ip", &["link", "delete", name])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_are_recognised_by_their_path() {
        assert!(is_shim("/var/lib/rancher/k3s/data/abc123/bin/containerd-shim-runc-v2\0-namespace\0k8s.io"));
        assert!(!is_shim("/usr/bin/containerd-shim-runc-v2\0-namespace\0moby"), "docker's shims are not ours");
        assert!(!is_shim("/usr/bin/vim\0/var/lib/rancher/k3s/data/x/bin/containerd-shim"));
    }

    #[test]
    fn nft_tables_of_k3s_components_only() {
        let listing = "table ip filter\ntable ip kube-proxy\ntable ip6 kube-proxy\ntable inet firewalld\ntable ip flannel\ntable inet CNI-portmap\n";
        let tables = k3s_nft_tables(listing);
        let names: Vec<String> = tables.iter().map(|(f, n)| format!("{f} {n}")).collect();
        assert_eq!(names, ["ip kube-proxy", "ip6 kube-proxy", "ip flannel", "inet CNI-portmap"]);
    }

    #[test]
    fn bridge_ports_are_read_from_master_links() {
        let d = std::env::temp_dir().join(format!("floppies-sysnet-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        for (name, master) in [("veth1", Some("cni0")), ("veth2", Some("docker0")), ("eth0", None), ("cni0", None)] {
            fs::create_dir_all(d.join(name)).unwrap();
            if let Some(m) = master {
                std::os::unix::fs::symlink(format!("../../devices/virtual/net/{m}"), d.join(name).join("master")).unwrap();
            }
        }
        assert_eq!(bridge_ports(&d, "cni0"), ["veth1"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn mounts_are_k3s_only_and_deepest_first() {
        let mounts = "\
tmpfs /run tmpfs rw 0 0
shm /run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm tmpfs rw 0 0
overlay /run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs overlay rw 0 0
tmpfs /var/lib/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access tmpfs rw 0 0
nsfs /run/netns/cni-1234 nsfs rw 0 0
/dev/sda1 /var/lib/docker ext4 rw 0 0
tmpfs /run/k3s tmpfs rw 0 0
";
        let points = k3s_mounts(mounts);
        assert_eq!(points.len(), 5);
        assert_eq!(points.last().unwrap(), "/run/k3s", "the parent goes last");
        assert!(!points.iter().any(|p| p.contains("docker") || p == "/run"));
    }
}
