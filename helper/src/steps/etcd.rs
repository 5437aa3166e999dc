//! The step `node add --role server` runs once on the first server: it moves
//! the cluster from sqlite to k3s's embedded etcd, which a second server
//! needs. k3s does the move itself when a sqlite server restarts with
//! `cluster-init` (docs/upstream.md row 31); the setting goes in a drop-in of
//! k3s's `config.yaml.d` (row 48), so install's own config.yaml, which a
//! re-run of install checks, stays as install wrote it. The restart pauses
//! the API and the app for as long as k3s takes to start again.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::fs;
use std::time::{Duration, Instant};

use super::{InstallCx, Step, UninstallCx};
use crate::files::{private_dir, write_private};
use crate::layout::{Layout, K3S_UNIT};
use crate::runner;
use floppies_format::error::{ExitCode, Failure};

/// The journal entry, also how a server knows it is on etcd.
pub const STEP: &str = "embedded-etcd";
const DROPIN: &str = "50-floppies-embedded-etcd.yaml";
const DROPIN_TEXT: &str =
    "# Written by floppies-installer (node add --role server): this server runs embedded etcd; removed by 'floppies uninstall'.\ncluster-init: true\n";

pub fn dropin_path(layout: &Layout) -> camino::Utf8PathBuf {
    layout.k3s_config_dropin_dir().join(DROPIN)
}

/// True when k3s on this server is told to run embedded etcd.
pub fn on_etcd(layout: &Layout) -> bool {
    fs::read_to_string(dropin_path(layout)).is_ok_and(|t| t == DROPIN_TEXT)
}

/// The API answers and this node is Ready, as the admin kubeconfig sees it (join's check for a server).
fn own_node_ready(layout: &Layout) -> std::result::Result<(), String> {
    match super::join::own_node_ready(layout, crate::joinfile::NodeRole::Server) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("node {} is not Ready yet", super::join::node_name())),
        Err(e) => Err(floppies_format::error::render(&e)),
    }
}

pub struct EmbeddedEtcd;

impl Step for EmbeddedEtcd {
    fn name(&self) -> &'static str {
        STEP
    }
    fn summary(&self) -> &'static str {
        "move this server to embedded etcd (cluster-init), restarting k3s: the app pauses until it is back"
    }
    fn undo_summary(&self) -> &'static str {
        "remove the cluster-init drop-in (k3s's data, etcd's included, goes with k3s's data dir)"
    }
    fn plan(&self, cx: &InstallCx) -> Vec<String> {
        if on_etcd(cx.layout) {
            vec!["this server already runs embedded etcd".into()]
        } else {
            vec![format!("write {} (cluster-init: true)", dropin_path(cx.layout)), format!("restart {K3S_UNIT}; k3s moves the sqlite data into etcd")]
        }
    }
    fn done(&self, cx: &InstallCx) -> Result<bool> {
        Ok(on_etcd(cx.layout) && own_node_ready(cx.layout).is_ok())
    }
    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let path = dropin_path(cx.layout);
        if !on_etcd(cx.layout) {
            private_dir(&cx.layout.k3s_config_dropin_dir(), 0o755)?;
            write_private(&path, DROPIN_TEXT)?;
            runner::run("systemctl", &["restart", "--no-block", K3S_UNIT])?;
            // The old API may still answer for a moment: give systemd the restart first.
            std::thread::sleep(Duration::from_secs(3));
        }
        let started = Instant::now();
        let limit = Duration::from_secs(cx.opts.wait_timeout);
        loop {
            let last = match own_node_ready(cx.layout) {
                Ok(()) => return Ok(json!({ "dropin": path, "ready_after_s": started.elapsed().as_secs() })),
                Err(why) => why,
            };
            if started.elapsed() >= limit {
                bail!(Failure::new(ExitCode::Failed, format!("k3s did not come back on embedded etcd within {} s: {last}", limit.as_secs()))
                    .help("see 'journalctl -u floppies-k3s'; run the same 'node add' again to go on waiting"));
            }
            cx.out.tick(format!("waiting for k3s on embedded etcd ({last})"));
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    fn undo(&self, cx: &UninstallCx, _record: &Value) -> Result<()> {
        let path = dropin_path(cx.layout);
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_file(&path).map_err(|e| anyhow::anyhow!("could not remove '{path}': {e}"))?;
        }
        let _ = fs::remove_dir(cx.layout.k3s_config_dropin_dir());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Reporter;
    use crate::steps::UninstallOptions;

    #[test]
    fn the_dropin_is_the_only_sign_of_etcd_and_undo_removes_it() {
        let root = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-etcd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let layout = Layout::at(&root);
        assert!(!on_etcd(&layout));
        fs::create_dir_all(layout.k3s_config_dropin_dir()).unwrap();
        fs::write(dropin_path(&layout), "cluster-init: false\n").unwrap();
        assert!(!on_etcd(&layout), "another text is not ours");
        fs::write(dropin_path(&layout), DROPIN_TEXT).unwrap();
        assert!(on_etcd(&layout));
        let out = Reporter::new(false, true);
        let cx =
            UninstallCx { out: &out, layout: &layout, bundle: None, manifest: None, opts: UninstallOptions { keep_data: false }, journal: Default::default() };
        EmbeddedEtcd.undo(&cx, &Value::Null).unwrap();
        assert!(!dropin_path(&layout).exists() && !layout.k3s_config_dropin_dir().exists());
        EmbeddedEtcd.undo(&cx, &Value::Null).unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn the_dropin_says_cluster_init_and_nothing_else() {
        let keys: Vec<&str> = DROPIN_TEXT.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(keys, ["cluster-init: true"]);
    }
}
