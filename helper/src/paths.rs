//! Every fixed host path the installer reads or writes, in one place.
//!
//! Tests and the VM harness move the whole tree with `FLOPPIES_ROOT`, which is
//! prefixed to every path here (default: `/`).

use camino::{Utf8Path, Utf8PathBuf};

/// Where our software lives: releases, the `current` symlink, our binary.
pub const OPT_DIR: &str = "/opt/floppies";
/// Customer data and credentials: never deleted unless asked.
pub const DATA_DIR: &str = "/var/lib/floppies";
/// Install logs, one file per run.
pub const LOG_DIR: &str = "/var/log/floppies";
/// The journal of completed steps.
pub const STATE_FILE: &str = "/var/lib/floppies/state.json";
/// Held while an install or uninstall runs.
pub const LOCK_FILE: &str = "/run/floppies.lock";
/// Where `floppies` is put on PATH.
pub const BIN_LINK: &str = "/usr/local/bin/floppies";
/// k3s configuration, written by us.
pub const K3S_CONFIG_DIR: &str = "/etc/rancher/k3s";
/// k3s's data dir (images, manifests, static charts live below it).
pub const K3S_DATA_DIR: &str = "/var/lib/rancher/k3s";
/// Our systemd units.
pub const SYSTEMD_DIR: &str = "/etc/systemd/system";
/// Where k3s imports image archives from at start.
pub const K3S_IMAGES_DIR: &str = "/var/lib/rancher/k3s/agent/images";
/// k3s applies every manifest here.
pub const K3S_MANIFESTS_DIR: &str = "/var/lib/rancher/k3s/server/manifests";
/// k3s serves these files at https://%{KUBERNETES_API}%/static/charts/.
pub const K3S_STATIC_CHARTS_DIR: &str = "/var/lib/rancher/k3s/server/static/charts";
/// The kubeconfig k3s writes (mode 0600 by our config).
pub const K3S_KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";
/// Our k3s unit.
pub const K3S_UNIT: &str = "floppies-k3s.service";
/// Directories a k3s server leaves behind, removed on uninstall.
pub const K3S_LEFTOVER_DIRS: &[&str] =
    &["/etc/rancher/k3s", "/var/lib/rancher/k3s", "/var/lib/kubelet", "/var/lib/cni", "/run/k3s", "/run/flannel"];
/// The namespace the application runs in.
pub const APP_NAMESPACE: &str = "floppies";

/// The root every host path is resolved under.
pub fn root() -> Utf8PathBuf {
    match std::env::var("FLOPPIES_ROOT") {
        Ok(r) if !r.is_empty() => Utf8PathBuf::from(r),
        _ => Utf8PathBuf::from("/"),
    }
}

/// A fixed host path under the current root.
pub fn host(path: &str) -> Utf8PathBuf {
    under(&root(), path)
}

fn under(root: &Utf8Path, path: &str) -> Utf8PathBuf {
    root.join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_under_the_root() {
        assert_eq!(under(Utf8Path::new("/"), STATE_FILE), "/var/lib/floppies/state.json");
        assert_eq!(under(Utf8Path::new("/tmp/r"), OPT_DIR), "/tmp/r/opt/floppies");
    }
}
