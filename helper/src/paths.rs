//! Every fixed host path the installer reads or writes, in one place.
//!
//! Tests move the whole tree with `FLOPPIES_ROOT` (honoured only for a test:
//! see `choose_root`), which is
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
pub const K3S_LEFTOVER_DIRS: &[&str] = &["/etc/rancher/k3s", "/var/lib/rancher/k3s", "/var/lib/kubelet", "/var/lib/cni", "/run/k3s", "/run/flannel"];
/// The namespace the application runs in.
pub const APP_NAMESPACE: &str = "floppies";

/// Where a program named in a file we write (a unit root runs at every boot)
/// is looked up: fixed system directories, never PATH, whose early entries
/// may be writable by a user.
pub const SYSTEM_BIN_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The absolute path of system program NAME: the first in SYSTEM_BIN_DIRS
/// that is a root-owned executable no one else can write.
pub fn system_binary(name: &str) -> anyhow::Result<Utf8PathBuf> {
    use std::os::unix::fs::MetadataExt;
    for dir in SYSTEM_BIN_DIRS {
        let path = Utf8Path::new(dir).join(name);
        if let Ok(m) = std::fs::metadata(&path) {
            if m.is_file() && m.uid() == 0 && m.mode() & 0o022 == 0 && m.mode() & 0o111 != 0 {
                return Ok(path);
            }
        }
    }
    Err(floppies_format::error::Failure::new(
        floppies_format::error::ExitCode::Failed,
        format!("the '{name}' command is missing from {} (or is not a root-owned program)", SYSTEM_BIN_DIRS.join(", ")),
    )
    .help(format!("install the package that provides '{name}' from the distribution, then run the installer again"))
    .into())
}

/// The variable that moves the host tree, for tests only.
pub const ROOT_VAR: &str = "FLOPPIES_ROOT";

/// The root chosen once per run by `choose_root`.
static CHOSEN_ROOT: std::sync::OnceLock<Utf8PathBuf> = std::sync::OnceLock::new();

/// The root every host path is resolved under: `/`, or FLOPPIES_ROOT when
/// `choose_root` allowed it (unit tests read the variable on every call).
pub fn root() -> Utf8PathBuf {
    if cfg!(test) {
        return env_root().unwrap_or_else(|| Utf8PathBuf::from("/"));
    }
    CHOSEN_ROOT.get().cloned().unwrap_or_else(|| Utf8PathBuf::from("/"))
}

fn env_root() -> Option<Utf8PathBuf> {
    std::env::var(ROOT_VAR).ok().filter(|r| !r.is_empty()).map(Utf8PathBuf::from)
}

/// What says this run is a test: the helper's own build, the installation
/// on the real host, the bundle handed to us once its payload is verified.
pub struct TestEvidence<'a> {
    pub debug_build: bool,
    pub installed_profile: Option<&'a str>,
    pub verified_bundle_profile: Option<&'a str>,
}

/// FLOPPIES_ROOT is honoured only for a test: a production bundle or
/// installation ignores it, since the cleanup would act on the real /proc,
/// mounts and firewall while the files it checks live elsewhere.
pub fn honours_root(e: &TestEvidence) -> bool {
    e.debug_build || e.installed_profile == Some("test") || e.verified_bundle_profile == Some("test")
}

/// Decides the root for this run, once: FLOPPIES_ROOT if set and this is a
/// test (see `honours_root`), else `/`, with a warning if it was set.
/// The bundle is verified only when FLOPPIES_ROOT is set and its header says test.
pub fn choose_root(bundle: Option<&Utf8Path>, warn: &dyn Fn(&str)) {
    let Some(wanted) = env_root() else { return };
    let installed = crate::journal::Journal::load(&Utf8Path::new("/").join(STATE_FILE.trim_start_matches('/'))).ok().flatten().map(|j| j.profile);
    let verified = bundle.and_then(|p| floppies_format::bundle::Bundle::open(p).ok()).filter(|b| b.header.profile == "test").and_then(|b| {
        b.verify().ok()?;
        b.manifest().ok().map(|m| m.bundle.profile)
    });
    let evidence = TestEvidence { debug_build: cfg!(debug_assertions), installed_profile: installed.as_deref(), verified_bundle_profile: verified.as_deref() };
    let root = if honours_root(&evidence) {
        wanted
    } else {
        warn(&format!("{ROOT_VAR} is ignored: only a test bundle or installation honours it"));
        Utf8PathBuf::from("/")
    };
    let _ = CHOSEN_ROOT.set(root);
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
    fn system_programs_are_found_in_fixed_dirs_never_through_path() {
        let planted = std::env::temp_dir().join(format!("floppies-path-test-{}", std::process::id()));
        std::fs::create_dir_all(&planted).unwrap();
        std::fs::write(planted.join("sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(planted.join("sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut path = std::ffi::OsString::from(planted.as_os_str());
        path.push(":");
        path.push(&old);
        std::env::set_var("PATH", &path);
        let found = system_binary("sh");
        std::env::set_var("PATH", old);
        let _ = std::fs::remove_dir_all(&planted);
        let found = found.unwrap();
        assert!(SYSTEM_BIN_DIRS.iter().any(|d| found.starts_with(d)), "{found}");
        let err = format!("{:#}", system_binary("floppies-no-such-program").unwrap_err());
        assert!(err.contains("is missing from /usr/sbin, /usr/bin, /sbin, /bin"), "{err}");
    }

    #[test]
    fn only_a_test_build_bundle_or_installation_moves_the_root() {
        let e = |debug_build, installed_profile, verified_bundle_profile| TestEvidence { debug_build, installed_profile, verified_bundle_profile };
        assert!(!honours_root(&e(false, None, None)));
        assert!(!honours_root(&e(false, Some("prod"), Some("prod"))));
        assert!(honours_root(&e(false, Some("test"), None)));
        assert!(honours_root(&e(false, None, Some("test"))));
        assert!(honours_root(&e(true, None, None)));
    }

    #[test]
    fn paths_are_joined_under_the_root() {
        assert_eq!(under(Utf8Path::new("/"), STATE_FILE), "/var/lib/floppies/state.json");
        assert_eq!(under(Utf8Path::new("/tmp/r"), OPT_DIR), "/tmp/r/opt/floppies");
    }
}
