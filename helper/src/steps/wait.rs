//! Step 8: wait, bounded, for the node and then the application to be Ready.
//!
//! k3s's image import does not hold the kubelet back until every archive is
//! in: its wait on the import queue (workqueue.Len(), which does not count
//! the item being worked on) can end while the last archive still imports,
//! so pods may start, and wait for their images, meanwhile. While k3s's log
//! shows an import begun and not finished, the wait says "importing images".

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

use super::{InstallCx, Step, UninstallCx};
use crate::kube;
use crate::layout::{Layout, APP_NAMESPACE, K3S_UNIT};
use floppies_format::error::{ExitCode, Failure};

pub struct WaitReady;

/// The pause between polls on a machine that answers quickly.
const POLL: Duration = Duration::from_secs(2);
/// The longest pause between polls.
const MAX_POLL: Duration = Duration::from_secs(15);

impl Step for WaitReady {
    fn name(&self) -> &'static str {
        "wait-ready"
    }

    fn summary(&self) -> &'static str {
        "wait for the node, then the application, to be Ready"
    }

    fn undo_summary(&self) -> &'static str {
        "nothing to undo"
    }

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        Ok(node_state(cx.layout).is_ok_and(|bad| bad.is_empty()) && app_state(cx.layout).is_ok_and(|bad| bad.is_empty()))
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(cx.opts.wait_timeout);
        wait_for("the node", deadline, cx, node_state)?;
        wait_for("the application", deadline, cx, app_state)?;
        Ok(json!({ "seconds": started.elapsed().as_secs() }))
    }

    fn undo(&self, _cx: &UninstallCx, _record: &Value) -> Result<()> {
        Ok(())
    }
}

/// Polls CHECK (which lists what is not ready) until it lists nothing or the deadline passes.
fn wait_for(what: &str, deadline: Instant, cx: &InstallCx, check: fn(&Layout) -> Result<Vec<String>>) -> Result<()> {
    let mut last = vec![String::from("no answer from k3s yet")];
    let mut said = None;
    loop {
        let polled = Instant::now();
        match check(cx.layout) {
            Ok(bad) if bad.is_empty() => return Ok(()),
            Ok(bad) => last = bad,
            Err(e) => last = vec![floppies_format::error::render(&e)],
        }
        if let Some(archive) = importing(&k3s_log()) {
            if said.as_ref() != Some(&archive) {
                cx.out.say(format!("waiting for {what}: k3s is importing images from {archive}"));
                said = Some(archive.clone());
            }
            last.push(format!("k3s is still importing images from {archive}"));
        }
        if Instant::now() >= deadline {
            bail!(Failure::new(ExitCode::Failed, format!("{what} is not ready after {}s: {}", cx.opts.wait_timeout, last.join("; ")))
                .help("run 'sudo floppies diagnose' and send the file it writes to the vendor; 'sudo floppies status' shows the state"));
        }
        std::thread::sleep(pause_after(polled.elapsed()));
    }
}

/// The pause before the next poll when the last one took TOOK: POLL, or four
/// times TOOK when that is longer, at most MAX_POLL. Each poll starts kubectl
/// and journalctl; on a slow or loaded machine (a small VM, or an emulated
/// one, where one poll can take seconds of CPU) polling every two seconds
/// would take a large share of the CPU that k3s needs to come up. This way
/// the polls take at most a fifth of it.
fn pause_after(took: Duration) -> Duration {
    (took * 4).clamp(POLL, MAX_POLL)
}

/// The last lines of k3s's log (empty when journalctl cannot read it).
fn k3s_log() -> String {
    crate::runner::capture("journalctl", &["-u", K3S_UNIT, "-n", "400", "--no-pager", "-o", "cat"]).map(|o| o.stdout).unwrap_or_default()
}

/// The archive k3s's LOG shows an import begun for ("Importing images from
/// PATH") and not yet ended ("Imported images from PATH", or a failure that
/// names PATH), if any.
pub fn importing(log: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for line in log.lines() {
        if let Some(path) = after(line, "Importing images from ") {
            open = Some(path);
        } else if let Some(path) = &open {
            if line.contains(&format!("Imported images from {path}")) || line.contains(&format!("import {path}")) || line.contains(&format!("importing {path}"))
            {
                open = None;
            }
        }
    }
    open
}

/// The path after MARKER in LINE (up to a space or a quote).
fn after(line: &str, marker: &str) -> Option<String> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let path: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
    (!path.is_empty()).then_some(path)
}

fn node_state(layout: &Layout) -> Result<Vec<String>> {
    let (bad, total) = kube::nodes_not_ready(&kube::get_json(layout, &["nodes"])?);
    if total == 0 {
        return Ok(vec!["no node has registered yet".into()]);
    }
    Ok(bad.into_iter().map(|n| format!("node {n} is NotReady")).collect())
}

fn app_state(layout: &Layout) -> Result<Vec<String>> {
    Ok(kube::app_not_ready(&kube::get_json(layout, &["deployments,statefulsets,jobs", "-n", APP_NAMESPACE])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/var/lib/rancher/k3s/agent/images/floppies-app-images.tar";
    const K: &str = "/var/lib/rancher/k3s/agent/images/floppies-k3s-airgap-images-amd64.tar.zst";

    #[test]
    fn the_pause_between_polls_grows_with_what_a_poll_takes() {
        assert_eq!(pause_after(Duration::from_millis(80)), POLL, "a quick machine is polled every two seconds");
        assert_eq!(pause_after(Duration::from_millis(1500)), Duration::from_secs(6), "a poll of 1.5 s is followed by 6 s of rest");
        assert_eq!(pause_after(Duration::from_secs(30)), MAX_POLL, "never more than MAX_POLL between polls");
    }

    #[test]
    fn an_import_begun_and_not_ended_is_reported() {
        let begun = format!("level=info msg=\"Importing images from {A}\"\nlevel=info msg=\"Imported images from {A} in 3.2s\"\nlevel=info msg=\"Importing images from {K}\"\nlevel=info msg=\"Imported docker.io/rancher/mirrored-pause:3.6\"\n");
        assert_eq!(importing(&begun).as_deref(), Some(K));
        let ended = format!("{begun}level=info msg=\"Imported images from {K} in 20s\"\n");
        assert_eq!(importing(&ended), None);
        let failed = format!(
            "level=info msg=\"Importing images from {A}\"\nlevel=error msg=\"Failed to process image event: failed to import {A}: failed to retag images\"\n"
        );
        assert_eq!(importing(&failed), None, "a failed import is not still importing");
        assert_eq!(importing(""), None);
    }
}
