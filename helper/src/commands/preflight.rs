use anyhow::{bail, Result};

use super::Ctx;
use crate::journal::Journal;
use crate::preflight;
use floppies_format::bundle::Bundle;
use floppies_format::error::{ExitCode, Failure};

pub fn run(ctx: &Ctx) -> Result<()> {
    let manifest = match ctx.global.bundle.as_deref() {
        Some(p) => Some(Bundle::open(p)?.manifest()?),
        None => None,
    };
    let installed = Journal::load(&ctx.layout.state_file()).ok().flatten().is_some_and(|j| j.entry("k3s-service").is_some());
    let report = preflight::run(ctx.layout, manifest.as_ref(), installed);
    ctx.out.data(&report, || report.render());
    let failed = report.failed();
    if !failed.is_empty() {
        let ids: Vec<&str> = failed.iter().map(|c| c.id).collect();
        bail!(Failure::new(ExitCode::Preflight, format!("preflight failed: {}", ids.join(", "))).help("apply the remedies above, then run it again"));
    }
    Ok(())
}
