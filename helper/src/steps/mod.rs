//! The ordered install steps. Each is a value with a name, a check (already
//! done?), an apply that returns a record of what it changed, and an undo
//! that works from that record or, without one, from what it finds.
//! Install runs the steps in order and journals each; a re-run skips what is
//! done. Uninstall runs the undos in reverse.

mod baseline;
mod credentials;
pub mod etcd;
pub mod join;
mod k3s_service;
mod network;
pub mod on_path;
pub mod peers;
mod preflight;
mod smoke;
mod stage;
mod unpack;
mod values;
mod wait;

use anyhow::{Context, Result};
use serde_json::Value;
use std::fs;
use std::time::Instant;

use crate::journal::Journal;
use crate::layout::Layout;
use crate::report::Reporter;
use floppies_format::bundle::Bundle;
use floppies_format::manifest::Manifest;

/// What the firewall step does when ufw is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UfwMode {
    /// Keep ufw on and add the rules k3s and the app need (tagged 'floppies')
    Keep,
    /// Disable ufw (uninstall enables it again)
    Disable,
    /// Change nothing in ufw
    Leave,
}

/// What install was asked for: its steps' checks and applies read these.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    pub ufw: UfwMode,
    /// Seconds to wait for the node and the application.
    pub wait_timeout: u64,
    /// The customer's own certificate and key, if given.
    pub tls: Option<(camino::Utf8PathBuf, camino::Utf8PathBuf)>,
}

/// What uninstall was asked for: the steps' undos read these.
#[derive(Clone, Copy, Debug)]
pub struct UninstallOptions {
    pub keep_data: bool,
}

#[cfg(test)]
impl InstallOptions {
    /// What the unit tests install with: no ufw change, a short wait.
    pub fn for_test() -> InstallOptions {
        InstallOptions { ufw: UfwMode::Keep, wait_timeout: 1, tls: None }
    }
}

/// What every step sees, with the options of the run (install or uninstall).
pub struct Cx<'a, O> {
    pub out: &'a Reporter,
    pub layout: &'a Layout,
    pub bundle: Option<&'a Bundle>,
    pub manifest: Option<Manifest>,
    pub opts: O,
    pub journal: Journal,
}

/// An install's context: what `plan`, `done` and `apply` get.
pub type InstallCx<'a> = Cx<'a, InstallOptions>;
/// An uninstall's context: what `undo` gets.
pub type UninstallCx<'a> = Cx<'a, UninstallOptions>;

impl<O> Cx<'_, O> {
    /// The record an earlier run of `step` left, or Null.
    pub fn record(&self, step: &str) -> Value {
        self.journal.entry(step).map(|e| e.record.clone()).unwrap_or(Value::Null)
    }

    pub fn save_journal(&self) -> Result<()> {
        self.journal.save(&self.layout.state_file())
    }
}

pub trait Step {
    fn name(&self) -> &'static str;
    /// One line for plans and progress.
    fn summary(&self) -> &'static str;
    /// What uninstall does for this step, one line.
    fn undo_summary(&self) -> &'static str;
    /// False for steps that only look (preflight, waits, checks).
    fn changes_host(&self) -> bool {
        true
    }
    /// Details `--dry-run` adds under the step (what it would do on this host).
    fn plan(&self, _cx: &InstallCx) -> Vec<String> {
        Vec::new()
    }
    /// True when the host already has what this step makes.
    fn done(&self, cx: &InstallCx) -> Result<bool>;
    /// Makes it; returns what to remember for undo.
    fn apply(&self, cx: &mut InstallCx) -> Result<Value>;
    /// Removes it; idempotent, and works with `record` Null on a host it never touched.
    fn undo(&self, cx: &UninstallCx, record: &Value) -> Result<()>;
}

/// The install steps, in order.
pub fn install_steps() -> Vec<Box<dyn Step>> {
    vec![
        Box::new(preflight::Preflight),
        Box::new(unpack::Unpack),
        Box::new(network::Network),
        Box::new(credentials::Credentials),
        Box::new(stage::StageK3s),
        Box::new(baseline::HostBaseline),
        Box::new(k3s_service::K3sService),
        Box::new(wait::WaitReady),
        Box::new(smoke::SmokeCheck),
        Box::new(on_path::OnPath),
    ]
}

/// The steps whose undos remove a server's installation: install's, and what
/// `node add` may have added (its ufw rules, the move to embedded etcd), undone right after the PATH link.
pub fn server_undo_steps() -> Vec<Box<dyn Step>> {
    let mut steps = install_steps();
    let at = steps.len() - 1;
    steps.insert(at, node_add_firewall());
    steps.insert(at + 1, Box::new(etcd::EmbeddedEtcd));
    steps
}

/// The steps whose undos remove a joined machine: join's, and the ufw rules
/// `node add` may have added on a joined server (a joined server is on etcd already).
pub fn join_undo_steps() -> Vec<Box<dyn Step>> {
    let mut steps = join_steps(None, UfwMode::Keep);
    let at = steps.len() - 1;
    steps.insert(at, node_add_firewall());
    steps
}

/// node add's ufw step as uninstall needs it: its record says what to remove.
fn node_add_firewall() -> Box<dyn Step> {
    Box::new(peers::PeerFirewall { rules: Vec::new(), keep: false, active: false })
}

pub use credentials::{read_minio_env, read_reader_env};
pub use join::{is_joined, join_steps};
pub use network::DUMMY_LINK;
/// Where the stage step puts an image archive and the chart (an update reads the base's there).
pub use stage::{file_name as image_file_name, CHART_FILE};
pub use unpack::extract_release;

/// One line of a `--dry-run` plan.
#[derive(Debug, serde::Serialize)]
pub struct Planned {
    pub name: &'static str,
    pub summary: &'static str,
    /// "done" (a run would skip it) or "to do".
    pub state: &'static str,
    pub details: Vec<String>,
}

/// What install would do, step by step, from what is on the host now.
pub fn plan(cx: &InstallCx, steps: &[Box<dyn Step>]) -> Vec<Planned> {
    steps
        .iter()
        .map(|s| {
            let done = cx.journal.entry(s.name()).is_some() && s.done(cx).unwrap_or(false);
            Planned { name: s.name(), summary: s.summary(), state: if done { "done" } else { "to do" }, details: s.plan(cx) }
        })
        .collect()
}

/// What uninstall would do, in its order.
pub fn undo_plan(steps: &[Box<dyn Step>]) -> Vec<Planned> {
    steps.iter().rev().map(|s| Planned { name: s.name(), summary: s.undo_summary(), state: "to do", details: vec![] }).collect()
}

/// The plan as `--dry-run` prints it.
pub fn render_plan(title: &str, plan: &[Planned]) -> String {
    let width = plan.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut out = format!("{title}\n");
    for (i, p) in plan.iter().enumerate() {
        let state = if p.state == "done" { "  [done: skipped]" } else { "" };
        out.push_str(&format!("  {:>2}. {:<width$}  {}{state}\n", i + 1, p.name, p.summary));
        for d in &p.details {
            out.push_str(&format!("      {:<width$}  - {d}\n", ""));
        }
    }
    out.push_str("Nothing was changed (--dry-run).\n");
    out
}

/// What a run did, for its result line and `--json`.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Runs the install steps in order, skipping those done, journalling each.
pub fn run_install(cx: &mut InstallCx, steps: &[Box<dyn Step>]) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let n = steps.len();
    for (i, step) in steps.iter().enumerate() {
        let journalled = cx.journal.entry(step.name()).is_some();
        if journalled && step.done(cx)? {
            cx.out.say(format!("[{}/{n}] {:<12} unchanged", i + 1, step.name()));
            outcome.unchanged.push(step.name().into());
            continue;
        }
        if !step.changes_host() {
            let record = step.apply(cx)?;
            cx.journal.record(step.name(), record);
            if cx.layout.data_dir().exists() {
                cx.save_journal()?;
            }
            cx.out.say(format!("[{}/{n}] {:<12} ok", i + 1, step.name()));
            crate::fault::kill_point(step.name());
            continue;
        }
        cx.out.say(format!("[{}/{n}] {:<12} {} ...", i + 1, step.name(), step.summary()));
        let started = Instant::now();
        crate::runner::log_line(&format!("== step {} (apply)", step.name()));
        let record = step.apply(cx)?;
        cx.journal.record(step.name(), record);
        cx.save_journal()?;
        cx.out.say(format!("[{}/{n}] {:<12} done ({:.1}s)", i + 1, step.name(), started.elapsed().as_secs_f64()));
        crate::fault::kill_point(step.name());
        outcome.changed.push(step.name().into());
    }
    cx.journal.complete = true;
    cx.save_journal()?;
    Ok(outcome)
}

/// Runs every undo in reverse order; continues past failures and reports them all.
pub fn run_uninstall(cx: &mut UninstallCx, steps: &[Box<dyn Step>]) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let n = steps.len();
    for (i, step) in steps.iter().rev().enumerate() {
        let record = cx.record(step.name());
        cx.out.say(format!("[{}/{n}] {:<12} {} ...", i + 1, step.name(), step.undo_summary()));
        crate::runner::log_line(&format!("== step {} (undo)", step.name()));
        if let Err(e) = crate::fault::undo_failure(step.name()).and_then(|()| step.undo(cx, &record)) {
            cx.out.warn(format!("{}: {}", step.name(), floppies_format::error::render(&e)));
            failures.push(format!("{}: {}", step.name(), floppies_format::error::render(&e)));
            continue;
        }
        cx.journal.forget(step.name());
        let state = cx.layout.state_file();
        if state.parent().is_some_and(|d| d.exists()) {
            cx.journal.complete = false;
            cx.save_journal()?;
        }
        crate::fault::kill_point(step.name());
    }
    Ok(failures)
}

/// Uninstall: every undo in reverse, then, only if all succeeded, the
/// journal (and without --keep-data the data dir). Returns the failures.
pub fn uninstall(cx: &mut UninstallCx, steps: &[Box<dyn Step>]) -> Result<Vec<String>> {
    let failures = run_uninstall(cx, steps)?;
    if failures.is_empty() {
        forget_installation(cx.layout, cx.opts.keep_data)?;
    }
    Ok(failures)
}

/// After every undo succeeded: the journal goes, and without --keep-data the
/// data dir that held it. After a failed undo neither is called for: the
/// journal keeps what is still to undo, for the next uninstall.
pub fn forget_installation(layout: &Layout, keep_data: bool) -> Result<()> {
    let state = layout.state_file();
    if fs::symlink_metadata(&state).is_ok() {
        fs::remove_file(&state).with_context(|| format!("could not remove '{state}'"))?;
    }
    let data = layout.data_dir();
    if !keep_data && data.exists() {
        fs::remove_dir_all(&data).with_context(|| format!("could not remove '{data}'"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
