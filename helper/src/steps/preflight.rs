//! Step 1: every preflight check, all reported together; install stops here,
//! before any change, if one fails. The facts decided here go in the journal.

use anyhow::{bail, Result};
use serde_json::Value;

use super::{InstallCx, Step, UninstallCx};
use crate::preflight;
use floppies_format::error::{ExitCode, Failure};

pub struct Preflight;

impl Step for Preflight {
    fn name(&self) -> &'static str {
        "preflight"
    }

    fn summary(&self) -> &'static str {
        "check root, OS, arch, CPU level, memory, disk, ports, other Kubernetes, default route, firewall"
    }

    fn undo_summary(&self) -> &'static str {
        "nothing to undo"
    }

    fn changes_host(&self) -> bool {
        false
    }

    fn done(&self, _cx: &InstallCx) -> Result<bool> {
        // Always re-checked: the host may have changed since the last run.
        Ok(false)
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let installed = cx.journal.entry("k3s-service").is_some();
        let report = preflight::run(cx.layout, cx.manifest.as_ref(), installed);
        cx.out.say(report.render().trim_end());
        let failed = report.failed();
        if !failed.is_empty() {
            let list: Vec<String> = failed.iter().map(|c| format!("{}: {}", c.id, c.message)).collect();
            let remedies: Vec<String> = failed.iter().filter_map(|c| c.remedy.clone()).collect();
            bail!(Failure::new(ExitCode::Preflight, format!("preflight failed, nothing was changed: {}", list.join("; "))).help(remedies.join("; ")));
        }
        Ok(serde_json::to_value(&report.facts)?)
    }

    fn undo(&self, _cx: &UninstallCx, _record: &Value) -> Result<()> {
        Ok(())
    }
}
