//! Who runs us and on what: root, OS, arch, init, cgroups, CPU level, and
//! other Kubernetes or container runtimes that would clash.

use std::fs;

use super::{Check, Facts};
use floppies_format::manifest::Manifest;

/// The ids the app's pods may run as (one id for user and group): above the
/// login range (Ubuntu and Debian: 1000-59999) and below Debian's reserved
/// 65000-65533, where no `adduser --system` hands out ids (they come from 100-999).
pub const APP_IDS: std::ops::RangeInclusive<u32> = 64800..=64899;

/// The id for the app's pods: OWNER (of the data dir an earlier install
/// left) if it is one of ours and free, else the first of APP_IDS that is
/// no account's uid or gid in PASSWD and no group's gid in GROUP.
pub fn app_id(passwd: &str, group: &str, owner: Option<u32>) -> Option<u32> {
    let field = |text: &str, n: usize| -> Vec<u32> { text.lines().filter_map(|l| l.split(':').nth(n)?.trim().parse().ok()).collect() };
    let mut taken = field(passwd, 2);
    taken.extend(field(passwd, 3));
    taken.extend(field(group, 2));
    let free = |id: &u32| !taken.contains(id);
    owner.filter(|o| APP_IDS.contains(o) && free(o)).or_else(|| APP_IDS.clone().find(free))
}

/// Picks the app's id into FACTS, reading the host's /etc/passwd and /etc/group.
pub fn app_user(layout: &crate::layout::Layout, facts: &mut Facts) -> Check {
    use std::os::unix::fs::MetadataExt;
    let read = |p: &str| fs::read_to_string(layout.host(p)).unwrap_or_default();
    let owner = fs::metadata(layout.minio_data_dir()).ok().map(|m| m.uid());
    match app_id(&read("/etc/passwd"), &read("/etc/group"), owner) {
        Some(id) => {
            facts.app_uid = id;
            Check::pass("app-user", format!("the app's pods run as uid/gid {id}, no account or group of this host"))
        }
        None => Check::fail(
            "app-user",
            format!("every id in {}-{} belongs to an account or group of this host", APP_IDS.start(), APP_IDS.end()),
            "free one of those ids (they are not login ids), then run the installer again",
        ),
    }
}

pub fn checks(manifest: Option<&Manifest>, installed: bool) -> Vec<Check> {
    vec![root(), os(&fs::read_to_string("/etc/os-release").unwrap_or_default()), arch(manifest), systemd(), cgroups(), foreign(installed)]
}

fn root() -> Check {
    match rustix::process::geteuid().is_root() {
        true => Check::pass("root", "running as root"),
        _ => Check::fail("root", "not running as root", "run it with sudo: 'sudo sh floppies-installer.run install'"),
    }
}

/// Ubuntu 22.04 is supported; other systemd Linux gets a warning.
pub fn os(os_release: &str) -> Check {
    let get = |k: &str| os_release.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(|v| v.trim_matches('"').to_string()).unwrap_or_default();
    let (id, version, pretty) = (get("ID"), get("VERSION_ID"), get("PRETTY_NAME"));
    if id == "ubuntu" && version == "22.04" {
        Check::pass("os", pretty)
    } else if id.is_empty() {
        Check::warn("os", "unknown OS (no /etc/os-release); only Ubuntu 22.04 is supported")
    } else {
        Check::warn("os", format!("{pretty}: not Ubuntu 22.04, the supported OS; installing anyway"))
    }
}

fn arch(manifest: Option<&Manifest>) -> Check {
    let here = std::env::consts::ARCH;
    match manifest {
        Some(m) if m.bundle.arch != here => {
            Check::fail("arch", format!("the bundle is for {}, this machine is {here}", m.bundle.arch), format!("ask the vendor for the {here} installer"))
        }
        _ => Check::pass("arch", here.to_string()),
    }
}

fn systemd() -> Check {
    let comm = fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if comm.trim() == "systemd" {
        Check::pass("systemd", "systemd is PID 1")
    } else {
        Check::fail("systemd", format!("PID 1 is '{}', not systemd", comm.trim()), "install on a host booted with systemd (not in a plain container)")
    }
}

fn cgroups() -> Check {
    let v2 = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
    let v1 = fs::read_to_string("/proc/cgroups").unwrap_or_default();
    memory_controller(&v2, &v1)
}

/// The memory controller, from cgroup v2's controller list or v1's /proc/cgroups.
pub fn memory_controller(v2_controllers: &str, v1_cgroups: &str) -> Check {
    if v2_controllers.split_whitespace().any(|c| c == "memory") {
        return Check::pass("cgroups", "cgroup v2 with the memory controller");
    }
    let v1_on = v1_cgroups.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&"memory") && f.get(3) == Some(&"1")
    });
    if v1_on {
        Check::pass("cgroups", "cgroup v1 with the memory controller")
    } else {
        Check::fail(
            "cgroups",
            "the memory cgroup controller is not enabled",
            "add 'cgroup_enable=memory cgroup_memory=1' to the kernel command line and reboot",
        )
    }
}

/// Other Kubernetes distributions or a kubelet would fight ours for ports,
/// iptables and the CNI; a host container runtime is noted.
fn foreign(installed: bool) -> Check {
    let units = ["k3s.service", "k3s-agent.service", "rke2-server.service", "rke2-agent.service", "kubelet.service"];
    let dirs = ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system", "/usr/local/lib/systemd/system"];
    let mut found: Vec<String> = units.iter().filter(|u| dirs.iter().any(|d| fs::metadata(format!("{d}/{u}")).is_ok())).map(|u| format!("unit {u}")).collect();
    for bin in ["/usr/local/bin/k3s", "/usr/local/bin/rke2"] {
        if fs::metadata(bin).is_ok() {
            found.push(format!("binary {bin}"));
        }
    }
    let procs = processes();
    let comms: Vec<&str> = procs.iter().map(|(c, _)| c.as_str()).collect();
    if procs.iter().any(|(c, cgroup)| c == "kubelet" && !in_our_unit(cgroup)) {
        found.push("a running kubelet".into());
    }
    if !installed && comms.iter().any(|c| *c == "k3s-server" || *c == "k3s-agent") {
        found.push("a running k3s".into());
    }
    if !found.is_empty() {
        return Check::fail(
            "foreign-k8s",
            format!("another Kubernetes is on this host: {}", found.join(", ")),
            "uninstall it first (for k3s: /usr/local/bin/k3s-uninstall.sh), or use another host",
        );
    }
    let runtimes: Vec<&str> = ["dockerd", "containerd"].into_iter().filter(|r| comms.iter().any(|c| c == r)).collect();
    if runtimes.is_empty() {
        Check::pass("foreign-k8s", "no other Kubernetes or container runtime")
    } else {
        Check::warn(
            "foreign-k8s",
            format!("{} runs on this host; k3s brings its own containerd and coexists, but their firewall rules may interfere", runtimes.join(" and ")),
        )
    }
}

/// Every process's name and cgroup (/proc/PID/comm and /proc/PID/cgroup).
fn processes() -> Vec<(String, String)> {
    let Ok(entries) = fs::read_dir("/proc") else { return vec![] };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| {
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            Some((comm.trim().to_string(), fs::read_to_string(e.path().join("cgroup")).unwrap_or_default()))
        })
        .collect()
}

/// A process in our k3s unit's cgroup is ours, not a foreign Kubernetes
/// (a k3s that runs its kubelet as a process of its own, as the test
/// profile's k3s of parts does; real k3s runs it inside its own process).
fn in_our_unit(cgroup: &str) -> bool {
    cgroup.lines().any(|l| l.rsplit(':').next().is_some_and(|path| path.split('/').any(|part| part == crate::layout::K3S_UNIT)))
}

/// The CPU's x86-64 level, and the image variant that will run on it.
pub fn cpu(manifest: Option<&Manifest>, facts: &mut Facts) -> Vec<Check> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let level = crate::host::cpu::level_from_cpuinfo(&cpuinfo);
    facts.cpu_level = level.level;
    if std::env::consts::ARCH != "x86_64" {
        return vec![Check::pass("cpu-level", "not an x86-64 CPU: no level to check")];
    }
    let images: Vec<(String, u8)> = manifest
        .into_iter()
        .flat_map(|m| m.artifacts.iter().flat_map(|a| a.images.iter()))
        // An image is also named repo@digest; its tagged name stands for it.
        .filter(|i| !i.reference.contains('@'))
        .map(|i| (i.reference.clone(), i.x86_64_level.unwrap_or(1)))
        .collect();
    let (check, variant) = cpu_verdict(level.level, &images);
    facts.image_variant = variant.into();
    vec![check]
}

/// The tag suffix of the image variants built for x86-64-v1 CPUs.
pub const CPUV1_SUFFIX: &str = "-cpuv1";

/// Compares the host's level with what each bundled image needs (from
/// manifest.json). An image that would crash is replaced by its `-cpuv1`
/// variant where the bundle carries one that fits; otherwise the install
/// fails, naming it. Returns the check and the variant to deploy.
pub fn cpu_verdict(host: u8, images: &[(String, u8)]) -> (Check, &'static str) {
    let name = format!("x86-64-v{host}");
    let too_new: Vec<&(String, u8)> = images.iter().filter(|(r, need)| *need > host && !r.ends_with(CPUV1_SUFFIX)).collect();
    if too_new.is_empty() {
        return (Check::pass("cpu-level", format!("{name}: every bundled image runs on it")), "default");
    }
    let mut replaced = Vec::new();
    let mut crash = Vec::new();
    for (reference, need) in too_new {
        let variant = format!("{reference}{CPUV1_SUFFIX}");
        match images.iter().find(|(r, _)| *r == variant) {
            Some((_, v)) if *v <= host => replaced.push(format!("{reference} needs x86-64-v{need}, so {variant} is used")),
            _ => crash.push(format!("{reference} needs x86-64-v{need}")),
        }
    }
    if crash.is_empty() {
        (Check::warn("cpu-level", format!("{name}: {}", replaced.join("; "))), "cpuv1")
    } else {
        let check = Check::fail(
            "cpu-level",
            format!("{name}: this CPU cannot run {} (it would crash on start), and the bundle has no variant that fits", crash.join(", ")),
            "install on a machine with a newer CPU (or a VM whose CPU model exposes x86-64-v2: e.g. not qemu64); 'floppies debug cpu-level' shows what this one lacks",
        );
        (check, "default")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Verdict;

    #[test]
    fn a_kubelet_in_our_k3s_unit_is_ours_and_any_other_is_foreign() {
        assert!(in_our_unit("0::/system.slice/floppies-k3s.service\n"));
        assert!(!in_our_unit("0::/system.slice/kubelet.service\n"));
        assert!(!in_our_unit("0::/system.slice/floppies-k3s.service.d-other.scope\n"));
        assert!(!in_our_unit("0::/user.slice/user-1000.slice/session-2.scope\n"));
        assert!(!in_our_unit(""));
    }

    #[test]
    fn cpu_level_picks_the_variant_or_names_the_image_that_would_crash() {
        let minio = "quay.io/minio/minio:RELEASE.X".to_string();
        let images = vec![(minio.clone(), 2), (format!("{minio}-cpuv1"), 1), ("docker.io/y4m4/s3www:v0.9.0".to_string(), 1)];
        let (c, v) = cpu_verdict(3, &images);
        assert_eq!((c.result, v), (Verdict::Pass, "default"));
        let (c, v) = cpu_verdict(2, &images);
        assert_eq!((c.result, v), (Verdict::Pass, "default"));
        let (c, v) = cpu_verdict(1, &images);
        assert_eq!((c.result, v), (Verdict::Warn, "cpuv1"));
        assert!(c.message.contains("quay.io/minio/minio:RELEASE.X-cpuv1 is used"), "{}", c.message);
        let no_variant = vec![(minio.clone(), 2), ("other:1".to_string(), 3)];
        let (c, _) = cpu_verdict(2, &no_variant);
        assert_eq!(c.result, Verdict::Fail);
        assert!(c.message.contains("other:1 needs x86-64-v3") && !c.message.contains("minio"), "{}", c.message);
        let (c, _) = cpu_verdict(1, &[(minio.clone(), 2), (format!("{minio}-cpuv1"), 2)]);
        assert_eq!(c.result, Verdict::Fail, "a variant that also needs v2 does not help");
    }

    #[test]
    fn ubuntu_2204_passes_and_others_warn() {
        assert_eq!(os("ID=ubuntu\nVERSION_ID=\"22.04\"\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n").result, Verdict::Pass);
        assert_eq!(os("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n").result, Verdict::Warn);
        assert_eq!(os("").result, Verdict::Warn);
    }

    #[test]
    fn memory_controller_v1_and_v2() {
        assert_eq!(memory_controller("cpuset cpu io memory pids", "").result, Verdict::Pass);
        let v1 = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t100\t1\n";
        assert_eq!(memory_controller("", v1).result, Verdict::Pass);
        let v1_off = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t0\n";
        let c = memory_controller("", v1_off);
        assert_eq!(c.result, Verdict::Fail);
        assert!(c.remedy.unwrap().contains("cgroup_enable=memory"));
    }

    #[test]
    fn the_app_id_is_no_account_or_group_and_outside_the_login_range() {
        let passwd = "root:x:0:0::/root:/bin/bash\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash\nsvc:x:64800:100::/:/usr/sbin/nologin\n";
        let group = "root:x:0:\nusers:x:100:\nodd:x:64801:\n";
        let id = app_id(passwd, group, None).unwrap();
        assert_eq!(id, 64802, "64800 is an account's uid, 64801 a group's gid");
        assert!(!(1000..=59999).contains(&id));
        assert_eq!(app_id(passwd, group, Some(64850)), Some(64850), "an earlier install's id is kept");
        assert_eq!(app_id(passwd, group, Some(1000)), Some(64802), "data owned by a login uid moves to ours");
        assert_eq!(app_id(passwd, group, Some(64800)), Some(64802), "an earlier id that an account took since is left");
        let all: String = APP_IDS.map(|i| format!("u{i}:x:{i}:{i}::/:/bin/false\n")).collect();
        assert_eq!(app_id(&all, "", None), None);
    }
}
