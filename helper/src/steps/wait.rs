//! Step 7: wait, bounded, for the node and then the application to be Ready.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

use super::{kube, Cx, Step};
use crate::error::{ExitCode, Failure};
use crate::paths;

pub struct WaitReady;

const POLL: Duration = Duration::from_secs(2);

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

    fn done(&self, _cx: &Cx) -> Result<bool> {
        Ok(node_state().is_ok_and(|bad| bad.is_empty()) && app_state().is_ok_and(|bad| bad.is_empty()))
    }

    fn apply(&self, cx: &mut Cx) -> Result<Value> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(cx.opts.wait_timeout);
        wait_for("the node", deadline, cx, node_state)?;
        wait_for("the application", deadline, cx, app_state)?;
        Ok(json!({ "seconds": started.elapsed().as_secs() }))
    }

    fn undo(&self, _cx: &Cx, _record: &Value) -> Result<()> {
        Ok(())
    }
}

/// Polls CHECK (which lists what is not ready) until it lists nothing or the deadline passes.
fn wait_for(what: &str, deadline: Instant, cx: &Cx, check: fn() -> Result<Vec<String>>) -> Result<()> {
    let mut last = vec![String::from("no answer from k3s yet")];
    loop {
        match check() {
            Ok(bad) if bad.is_empty() => return Ok(()),
            Ok(bad) => last = bad,
            Err(e) => last = vec![crate::error::render(&e)],
        }
        if Instant::now() >= deadline {
            bail!(Failure::new(
                ExitCode::Failed,
                format!("{what} is not ready after {}s: {}", cx.opts.wait_timeout, last.join("; "))
            )
            .help("run 'sudo floppies diagnose' and send the file it writes to the vendor; 'sudo floppies status' shows the state"));
        }
        std::thread::sleep(POLL);
    }
}

fn node_state() -> Result<Vec<String>> {
    let (bad, total) = kube::nodes_not_ready(&kube::get_json(&["nodes"])?);
    if total == 0 {
        return Ok(vec!["no node has registered yet".into()]);
    }
    Ok(bad.into_iter().map(|n| format!("node {n} is NotReady")).collect())
}

fn app_state() -> Result<Vec<String>> {
    Ok(kube::app_not_ready(&kube::get_json(&["deployments,statefulsets,jobs", "-n", paths::APP_NAMESPACE])?))
}
