use anyhow::{bail, Result};
use serde_json::json;

use super::confirm::{confirm, require_root};
use super::Ctx;
use crate::cli::UninstallArgs;
use crate::journal::Journal;
use crate::layout::DATA_DIR;
use crate::steps::{self, UninstallCx, UninstallOptions};
use crate::{lock, runner};
use floppies_format::error::{ExitCode, Failure};

pub fn run(ctx: &Ctx, args: &UninstallArgs) -> Result<()> {
    let recorded = Journal::load(&ctx.layout.state_file()).ok().flatten();
    let all = steps_of(recorded.as_ref());
    if ctx.global.dry_run {
        let plan = steps::undo_plan(&all);
        let title = format!("Uninstall plan{}:", if args.keep_data { " (keeping data and credentials)" } else { " (deleting data)" });
        ctx.out.data(&json!({ "plan": plan, "keep_data": args.keep_data, "changed": false }), || steps::render_plan(&title, &plan));
        return Ok(());
    }
    require_root("uninstall")?;
    if let Some(others) = recorded.as_ref().filter(|j| !steps::is_joined(j)).and_then(|_| other_machines(ctx)) {
        confirm(
            ctx,
            &format!("This machine is the cluster's server; without it these machines are left without a cluster: {}. Continue?", others.join(", ")),
            "sudo floppies uninstall",
        )?;
    }
    if !args.keep_data && ctx.layout.data_dir().exists() {
        confirm(ctx, &format!("This deletes all customer data and credentials under {DATA_DIR}. Continue?"), "sudo floppies uninstall")?;
    }
    let _lock = lock::acquire(&ctx.layout.lock_file())?;
    runner::log_to(&ctx.layout.log_file("uninstall"))?;
    let journal = Journal::load(&ctx.layout.state_file())?.unwrap_or_default();
    crate::fault::arm(&journal.profile);
    // Once the data dir is gone so is the journal; the test bundle still says
    // what it is, in its manifest once the payload is verified (a header
    // saying "test" proves nothing: no hash covers it).
    if let Some(b) = ctx.global.bundle.as_deref().and_then(|p| floppies_format::bundle::Bundle::open(p).ok()) {
        if b.header.profile == "test" && b.verify().is_ok() {
            if let Ok(m) = b.manifest() {
                crate::fault::arm(&m.bundle.profile);
            }
        }
    }
    let version = journal.version.clone();
    let leave = super::join::leave_hint(&journal);
    remove(ctx, journal, UninstallOptions { keep_data: args.keep_data })?;
    // An update install killed after it rebuilt its release leaves that under
    // the data dir, which --keep-data keeps: it belongs to no installation now.
    crate::rebase::discard(&crate::rebase::Places::of(ctx.layout));
    let kept = args.keep_data.then_some(DATA_DIR);
    ctx.out.data(&json!({ "removed": version, "kept": kept, "next": leave }), || {
        let done = match kept {
            Some(dir) => format!("floppies is uninstalled. Customer data and credentials are kept in {dir}; installing again reuses them."),
            None => "floppies is uninstalled; nothing of it is left on this host.".to_string(),
        };
        match &leave {
            Some(hint) => format!("{done}\n{hint}"),
            None => done,
        }
    });
    Ok(())
}

/// Undoes every step in reverse (also for an upgrade); keeps data if asked.
pub fn remove(ctx: &Ctx, journal: Journal, opts: UninstallOptions) -> Result<()> {
    let mut cx = UninstallCx { out: ctx.out, layout: ctx.layout, bundle: None, manifest: None, opts, journal };
    let all = steps_of(Some(&cx.journal));
    let failures = steps::uninstall(&mut cx, &all)?;
    if !failures.is_empty() {
        bail!(Failure::new(ExitCode::Failed, format!("uninstall could not undo everything: {}", failures.join("; ")))
            .help("fix what is named and run the uninstall again (it is safe to repeat); 'sudo floppies diagnose' helps support"));
    }
    Ok(())
}

/// The steps whose undos remove an installation: join's on a joined machine, else install's.
fn steps_of(journal: Option<&Journal>) -> Vec<Box<dyn steps::Step>> {
    match journal {
        Some(j) if steps::is_joined(j) => steps::join_steps(None, steps::UfwMode::Keep),
        _ => steps::install_steps(),
    }
}

/// The other machines of this server's cluster (name and state), if k3s answers and there are any.
fn other_machines(ctx: &Ctx) -> Option<Vec<String>> {
    // Bounded: an uninstall of a broken host must not hang on its API.
    let list = crate::kube::get_json(ctx.layout, &["nodes", "--request-timeout=10s"]).ok()?;
    let own = super::node::own_node_name();
    let others: Vec<String> = super::node::rows(&list, &own, "")
        .into_iter()
        .filter(|r| r.name != own)
        .map(|r| format!("{} ({}, {})", r.name, r.role, if r.ready { "Ready" } else { "NotReady" }))
        .collect();
    (!others.is_empty()).then_some(others)
}
