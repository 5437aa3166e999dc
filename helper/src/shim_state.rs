//! What k3s's containerd leaves outside /run/k3s, found by ownership, not by
//! place: the shim's runc keeps each container's state under the shim's
//! default root `/run/containerd/runc/<namespace>/<id>`, each shim listens on
//! `/run/containerd/s/<sha256 of "<containerd address>/<namespace>/<id>">`,
//! and containerd 2's NRI plugin listens on `/run/nri/nri.sock` (containerd
//! v2.2.9: `cmd/containerd-shim-runc-v2/process/utils.go` RuncRoot,
//! `pkg/shim/util_unix.go` SocketAddress, `internal/nri/config.go`). A host's
//! own containerd or Docker keeps its state in the same directories, so only
//! entries of our containerd's containers go, and the NRI socket only when
//! nothing listens on it.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// k3s's containerd: its socket (the address its shims are given) and state dir.
const K3S_CONTAINERD_ADDRESS: &str = "run/k3s/containerd/containerd.sock";
const K3S_CONTAINERD_STATE: &str = "run/k3s/containerd";
/// Where the runc shim keeps its bundles, one per task, under the state dir.
const TASK_DIR: &str = "io.containerd.runtime.v2.task";
const RUNC_ROOT: &str = "run/containerd/runc";
const SHIM_SOCKETS: &str = "run/containerd/s";
const CONTAINERD_STATE: &str = "run/containerd";
const NRI_DIR: &str = "run/nri";
const NRI_SOCKET: &str = "run/nri/nri.sock";
/// runc's state.json is a few KiB; a larger one is not runc's.
const STATE_JSON_LIMIT: u64 = 4 << 20;

/// Removes our containers' runc state and shim sockets, a dead NRI socket,
/// and the directories that held only them, below the layout's ROOT. Run
/// after the shims are killed.
pub fn clean(root: &camino::Utf8Path) -> Result<()> {
    clean_under(root.as_std_path(), &nothing_listens)
}

/// `clean`, with DEAD saying whether nothing listens on a socket.
fn clean_under(root: &Path, dead: &dyn Fn(&Path) -> bool) -> Result<()> {
    // The directories we removed something from: they go if that left them
    // empty, and so do /run/containerd's runc dir and itself; a directory
    // something else still uses keeps it, and one we took nothing from stays.
    let mut dirs = BTreeSet::new();
    for path in leftovers(root) {
        remove(&path)?;
        dirs.extend(path.parent().map(Path::to_path_buf));
    }
    let nri = root.join(NRI_SOCKET);
    if fs::symlink_metadata(&nri).is_ok() && dead(&nri) {
        remove(&nri)?;
        dirs.insert(root.join(NRI_DIR));
    }
    if dirs.iter().any(|d| d.starts_with(root.join(CONTAINERD_STATE))) {
        dirs.extend([root.join(RUNC_ROOT), root.join(CONTAINERD_STATE)]);
    }
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in dirs {
        let _ = fs::remove_dir(&dir);
    }
    Ok(())
}

/// The runc state dirs and shim sockets of our containerd's containers.
fn leftovers(root: &Path) -> Vec<PathBuf> {
    let ids = our_containers(root);
    let mut out = Vec::new();
    for (ns, id) in &ids {
        let state = root.join(RUNC_ROOT).join(ns).join(id);
        if is_dir(&state) {
            out.push(state);
        }
        for socket in shim_sockets(ns, id) {
            let path = root.join(SHIM_SOCKETS).join(socket);
            if fs::symlink_metadata(&path).is_ok() {
                out.push(path);
            }
        }
    }
    out
}

/// The two socket names a shim of our containerd uses for (NS, ID): its own
/// and its debug socket.
fn shim_sockets(ns: &str, id: &str) -> [String; 2] {
    let base = format!("/{K3S_CONTAINERD_ADDRESS}/{ns}/{id}");
    [hex::encode(Sha256::digest(base.as_bytes())), hex::encode(Sha256::digest(format!("{base}/debug").as_bytes()))]
}

/// (namespace, id) of every container our containerd ran: its task bundles
/// under /run/k3s, and runc state whose rootfs is in one (what remains if
/// /run/k3s went first, as after an interrupted uninstall).
fn our_containers(root: &Path) -> BTreeSet<(String, String)> {
    let mut ids = BTreeSet::new();
    let tasks = root.join(K3S_CONTAINERD_STATE).join(TASK_DIR);
    for (ns, id) in two_levels(&tasks) {
        ids.insert((ns, id));
    }
    let ours = format!("/{K3S_CONTAINERD_STATE}/");
    for (ns, id) in two_levels(&root.join(RUNC_ROOT)) {
        let state = root.join(RUNC_ROOT).join(&ns).join(&id).join("state.json");
        if read_rootfs(&state).is_some_and(|r| r.starts_with(&ours)) {
            ids.insert((ns, id));
        }
    }
    ids
}

/// (dir, subdir) names two levels below DIR, for names a containerd
/// namespace or container id can have; symlinks are not followed.
fn two_levels(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ns in names(dir) {
        for id in names(&dir.join(&ns)) {
            out.push((ns.clone(), id));
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_identifier(n))
        .collect()
}

/// containerd's identifier rule: letters, digits, '.', '_' and '-', starting
/// with a letter or digit.
fn is_identifier(name: &str) -> bool {
    name.len() <= 76
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `config.rootfs` of a runc state.json, if it is a regular file of sane size.
fn read_rootfs(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > STATE_JSON_LIMIT {
        return None;
    }
    let mut text = String::new();
    fs::File::open(path).ok()?.take(STATE_JSON_LIMIT).read_to_string(&mut text).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    state.get("config")?.get("rootfs")?.as_str().map(str::to_string)
}

fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn remove(path: &Path) -> Result<()> {
    crate::runner::log_line(&format!("== removing {}", path.display()));
    let result = if is_dir(path) { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("could not remove '{}'", path.display())),
        _ => Ok(()),
    }
}

/// True if connecting to the unix socket at PATH is refused: no one listens.
fn nothing_listens(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("floppies-shim-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"").unwrap();
    }

    fn runc_state(root: &Path, ns: &str, id: &str, rootfs: &str) {
        let dir = root.join(RUNC_ROOT).join(ns).join(id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("state.json"), serde_json::json!({ "id": id, "config": { "rootfs": rootfs } }).to_string()).unwrap();
    }

    #[test]
    fn shim_socket_names_are_containerds_hash_of_address_namespace_and_id() {
        // `printf %s /run/k3s/containerd/containerd.sock/k8s.io/abc | sha256sum`, and with /debug.
        let [plain, debug] = shim_sockets("k8s.io", "abc");
        assert_eq!(plain, "9adb9ab44a143b9cb14c97521d02ee25147c287e706d4ec971fd495b70c8383b");
        assert_eq!(debug, "50d1257256aba977b944df5d7435f6b5125360a67c8c18877a7bfff4c96715f3");
        assert_ne!(plain, shim_sockets("moby", "abc")[0], "the namespace is part of the name");
    }

    #[test]
    fn only_our_containers_state_and_sockets_go_and_the_emptied_dirs_with_them() {
        let root = scratch("ours");
        // Ours: a task bundle under /run/k3s, its runc state, its shim socket.
        fs::create_dir_all(root.join(K3S_CONTAINERD_STATE).join(TASK_DIR).join("k8s.io/pod1")).unwrap();
        runc_state(&root, "k8s.io", "pod1", "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/pod1/rootfs");
        touch(&root.join(SHIM_SOCKETS).join(&shim_sockets("k8s.io", "pod1")[0]));
        // Ours without its bundle (an earlier uninstall removed /run/k3s): known by its rootfs.
        runc_state(&root, "k8s.io", "pod2", "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/pod2/rootfs");
        touch(&root.join(SHIM_SOCKETS).join(&shim_sockets("k8s.io", "pod2")[1]));
        fs::create_dir_all(root.join(NRI_DIR)).unwrap();
        touch(&root.join(NRI_SOCKET));

        clean_under(&root, &|_| true).unwrap();
        for gone in [RUNC_ROOT, SHIM_SOCKETS, CONTAINERD_STATE, NRI_DIR] {
            assert!(!root.join(gone).exists(), "{gone} held only ours and must be gone");
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_hosts_own_containerd_keeps_its_state_sockets_and_live_nri_socket() {
        let root = scratch("theirs");
        fs::create_dir_all(root.join(K3S_CONTAINERD_STATE).join(TASK_DIR).join("k8s.io/ours")).unwrap();
        runc_state(&root, "k8s.io", "ours", "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/ours/rootfs");
        // Docker's container, and one in k8s.io of the host's own containerd.
        runc_state(&root, "moby", "web", "/var/lib/docker/overlay2/x/merged");
        runc_state(&root, "k8s.io", "theirs", "/run/containerd/io.containerd.runtime.v2.task/k8s.io/theirs/rootfs");
        let their_socket = root.join(SHIM_SOCKETS).join(hex::encode(Sha256::digest(b"/run/containerd/containerd.sock/moby/web")));
        touch(&their_socket);
        touch(&root.join(NRI_SOCKET));
        // A symlink named like one of ours is not followed.
        fs::create_dir_all(root.join("elsewhere/keep")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join(RUNC_ROOT).join("evil")).unwrap();

        clean_under(&root, &|_| false).unwrap();
        assert!(!root.join(RUNC_ROOT).join("k8s.io/ours").exists());
        assert!(root.join(RUNC_ROOT).join("moby/web/state.json").exists());
        assert!(root.join(RUNC_ROOT).join("k8s.io/theirs/state.json").exists());
        assert!(their_socket.exists());
        assert!(root.join(NRI_SOCKET).exists(), "a socket someone listens on is theirs");
        assert!(root.join("elsewhere/keep").exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_empty_run_containerd_we_took_nothing_from_stays() {
        let root = scratch("empty");
        fs::create_dir_all(root.join(CONTAINERD_STATE)).unwrap();
        clean_under(&root, &|_| true).unwrap();
        assert!(root.join(CONTAINERD_STATE).is_dir());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names_that_are_no_containerd_identifier_are_ignored() {
        assert!(is_identifier("3f2a9c"));
        assert!(is_identifier("k8s.io"));
        assert!(!is_identifier(".hidden"));
        assert!(!is_identifier("a b"));
        assert!(!is_identifier(&"a".repeat(77)));
    }

    #[test]
    fn a_state_file_that_is_no_runc_state_names_no_rootfs() {
        let root = scratch("json");
        let p = root.join("state.json");
        fs::write(&p, b"not json").unwrap();
        assert_eq!(read_rootfs(&p), None);
        fs::write(&p, br#"{"config":{"rootfs":"/run/k3s/containerd/x"}}"#).unwrap();
        assert_eq!(read_rootfs(&p).as_deref(), Some("/run/k3s/containerd/x"));
        fs::remove_dir_all(&root).unwrap();
    }
}
