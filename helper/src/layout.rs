//! Every fixed host path the installer reads or writes, in one value.
//!
//! `Layout` is built once per run in `commands::dispatch` (`Layout::choose`)
//! and passed to commands and steps; nothing reads the environment for a
//! path after that. Tests move the whole tree with `FLOPPIES_ROOT`, honoured
//! only by the rule that also arms the fault switch (`crate::fault`): a test
//! build, installation, or verified test bundle. Unit tests build a layout
//! over a scratch directory with `Layout::at`.

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

/// The host's fixed paths under one root (`/` on a customer's host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: Utf8PathBuf,
}

impl Layout {
    /// The real host.
    pub fn system() -> Layout {
        Layout::at("/")
    }

    /// The tree under ROOT (tests).
    pub fn at(root: impl Into<Utf8PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// The layout of this run, decided once: FLOPPIES_ROOT if set and this is
    /// a test (`crate::fault::TestEvidence`), else `/`, with a warning if it
    /// was set. The bundle is verified only when FLOPPIES_ROOT is set and its
    /// header says test.
    pub fn choose(bundle: Option<&Utf8Path>, warn: &dyn Fn(&str)) -> Layout {
        let Some(wanted) = std::env::var(ROOT_VAR).ok().filter(|r| !r.is_empty()) else { return Layout::system() };
        let installed = crate::journal::Journal::load(&Layout::system().state_file()).ok().flatten().map(|j| j.profile);
        let verified = bundle.and_then(|p| floppies_format::bundle::Bundle::open(p).ok()).filter(|b| b.header.profile == "test").and_then(|b| {
            b.verify().ok()?;
            b.manifest().ok().map(|m| m.bundle.profile)
        });
        let evidence = crate::fault::TestEvidence {
            debug_build: cfg!(debug_assertions),
            installed_profile: installed.as_deref(),
            verified_bundle_profile: verified.as_deref(),
        };
        if evidence.is_test() {
            Layout::at(wanted)
        } else {
            warn(&format!("{ROOT_VAR} is ignored: only a test bundle or installation honours it"));
            Layout::system()
        }
    }

    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    /// Any fixed host PATH (absolute) under the root.
    pub fn host(&self, path: &str) -> Utf8PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    // Our software.
    pub fn opt_dir(&self) -> Utf8PathBuf {
        self.host(OPT_DIR)
    }
    /// /opt/floppies/releases/VERSION.
    pub fn release_dir(&self, version: &str) -> Utf8PathBuf {
        self.opt_dir().join("releases").join(version)
    }
    /// /opt/floppies/current, the symlink to the installed release.
    pub fn current_link(&self) -> Utf8PathBuf {
        self.opt_dir().join("current")
    }
    /// The manifest of the installed release.
    pub fn current_manifest(&self) -> Utf8PathBuf {
        self.current_link().join("manifest.json")
    }
    /// The k3s binary of the installed release.
    pub fn current_k3s(&self) -> Utf8PathBuf {
        self.current_link().join("k3s/k3s")
    }
    /// The installed release's content, as the chart mounts it.
    pub fn current_content(&self) -> Utf8PathBuf {
        self.current_link().join("content")
    }
    /// Our copy of the helper: /opt/floppies/bin/floppies.
    pub fn installed_helper(&self) -> Utf8PathBuf {
        self.opt_dir().join("bin/floppies")
    }
    pub fn bin_link(&self) -> Utf8PathBuf {
        self.host(BIN_LINK)
    }

    // Customer data, credentials, our state.
    pub fn data_dir(&self) -> Utf8PathBuf {
        self.host(DATA_DIR)
    }
    pub fn credentials_dir(&self) -> Utf8PathBuf {
        self.data_dir().join("credentials")
    }
    pub fn minio_env(&self) -> Utf8PathBuf {
        self.credentials_dir().join("minio-root.env")
    }
    pub fn reader_env(&self) -> Utf8PathBuf {
        self.credentials_dir().join("s3www-reader.env")
    }
    pub fn tls_dir(&self) -> Utf8PathBuf {
        self.credentials_dir().join("tls")
    }
    /// Where customer data lives (MinIO's volume is below it).
    pub fn app_data_dir(&self) -> Utf8PathBuf {
        self.data_dir().join("data")
    }
    /// MinIO's data directory on the host.
    pub fn minio_data_dir(&self) -> Utf8PathBuf {
        self.app_data_dir().join("minio")
    }
    pub fn state_file(&self) -> Utf8PathBuf {
        self.host(STATE_FILE)
    }
    pub fn lock_file(&self) -> Utf8PathBuf {
        self.host(LOCK_FILE)
    }
    pub fn log_dir(&self) -> Utf8PathBuf {
        self.host(LOG_DIR)
    }
    /// /var/log/floppies/COMMAND-SECONDS.log (seconds since the epoch, 0 without a clock).
    pub fn log_file(&self, command: &str) -> Utf8PathBuf {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.log_dir().join(format!("{command}-{secs}.log"))
    }

    // k3s.
    pub fn k3s_config_dir(&self) -> Utf8PathBuf {
        self.host(K3S_CONFIG_DIR)
    }
    pub fn k3s_config_file(&self) -> Utf8PathBuf {
        self.k3s_config_dir().join("config.yaml")
    }
    /// k3s reads every `*.yaml` here after config.yaml (its `config.yaml.d`).
    pub fn k3s_config_dropin_dir(&self) -> Utf8PathBuf {
        self.k3s_config_dir().join("config.yaml.d")
    }
    pub fn kubeconfig(&self) -> Utf8PathBuf {
        self.host(K3S_KUBECONFIG)
    }
    /// The server token k3s writes: `K10<CA hash>::server:<secret>`; joins servers, never expires.
    pub fn k3s_server_token(&self) -> Utf8PathBuf {
        self.k3s_data_dir().join("server/token")
    }
    pub fn k3s_data_dir(&self) -> Utf8PathBuf {
        self.host(K3S_DATA_DIR)
    }
    pub fn k3s_images_dir(&self) -> Utf8PathBuf {
        self.host(K3S_IMAGES_DIR)
    }
    pub fn k3s_manifests_dir(&self) -> Utf8PathBuf {
        self.host(K3S_MANIFESTS_DIR)
    }
    pub fn k3s_static_charts_dir(&self) -> Utf8PathBuf {
        self.host(K3S_STATIC_CHARTS_DIR)
    }
    /// A systemd unit file of ours.
    pub fn unit_file(&self, unit: &str) -> Utf8PathBuf {
        self.host(SYSTEMD_DIR).join(unit)
    }
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
    fn paths_are_joined_under_the_root() {
        assert_eq!(Layout::system().state_file(), "/var/lib/floppies/state.json");
        let moved = Layout::at("/tmp/r");
        assert_eq!(moved.opt_dir(), "/tmp/r/opt/floppies");
        assert_eq!(moved.release_dir("1.2"), "/tmp/r/opt/floppies/releases/1.2");
        assert_eq!(moved.minio_data_dir(), "/tmp/r/var/lib/floppies/data/minio");
        assert_eq!(moved.unit_file(K3S_UNIT), "/tmp/r/etc/systemd/system/floppies-k3s.service");
    }

    /// An update file names this path as where its base installed the helper.
    #[test]
    fn the_helper_is_installed_where_update_files_look_for_it() {
        assert_eq!(Layout::system().installed_helper(), floppies_format::header::INSTALLED_HELPER);
    }
}
