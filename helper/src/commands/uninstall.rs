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
    let server = recorded.as_ref().is_some_and(|j| steps::join::joined_role(j) != Some(crate::joinfile::NodeRole::Agent));
    if let Some(others) = server.then(|| other_machines(ctx)).flatten() {
        confirm(ctx, &leaving_server_question(&others), "sudo floppies uninstall")?;
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
        Some(j) if steps::is_joined(j) => steps::join_undo_steps(),
        _ => steps::server_undo_steps(),
    }
}

/// The other machines of this server's cluster, if k3s answers and there are any.
fn other_machines(ctx: &Ctx) -> Option<Vec<super::node::NodeRow>> {
    // Bounded: an uninstall of a broken host must not hang on its API.
    let list = crate::kube::get_json(ctx.layout, &["nodes", "--request-timeout=10s"]).ok()?;
    let own = super::node::own_node_name();
    let others: Vec<_> = super::node::rows(&list, &own, "").into_iter().filter(|r| r.name != own).collect();
    (!others.is_empty()).then_some(others)
}

/// What uninstall asks on a server that other machines depend on.
fn leaving_server_question(others: &[super::node::NodeRow]) -> String {
    let named = |rows: &mut dyn Iterator<Item = &super::node::NodeRow>| {
        rows.map(|r| format!("{} ({}, {})", r.name, r.role, if r.ready { "Ready" } else { "NotReady" })).collect::<Vec<_>>().join(", ")
    };
    let servers = others.iter().filter(|r| r.role == "server").count();
    if servers == 0 {
        return format!("This machine is the cluster's server; without it these machines are left without a cluster: {}. Continue?", named(&mut others.iter()));
    }
    let own = super::node::own_node_name();
    format!(
        "This machine is one of the cluster's {} servers (the others: {}). Its etcd member stays until 'sudo floppies node remove {own}' runs on another server: \
         do that first (then {}). Continue anyway?",
        servers + 1,
        named(&mut others.iter().filter(|r| r.role == "server")),
        super::node::quorum_after(servers)
    )
}

#[cfg(test)]
mod tests {
    use super::super::node::NodeRow;
    use super::*;

    fn row(name: &str, role: &'static str) -> NodeRow {
        NodeRow { name: name.into(), role, ready: true, schedulable: true, k3s: "v1".into(), bundle: "1".into() }
    }

    #[test]
    fn the_last_server_names_the_machines_it_orphans() {
        let q = leaving_server_question(&[row("agent", "agent")]);
        assert!(q.contains("the cluster's server") && q.contains("agent (agent, Ready)"), "{q}");
    }

    #[test]
    fn one_of_several_servers_is_told_to_remove_its_member_first() {
        let q = leaving_server_question(&[row("two", "server"), row("three", "server"), row("agent", "agent")]);
        assert!(q.contains("one of the cluster's 3 servers") && q.contains("two (server, Ready), three (server, Ready)"), "{q}");
        assert!(q.contains("node remove") && q.contains("2 servers left"), "{q}");
        assert!(!q.contains("agent (agent"), "the agents keep their cluster: {q}");
    }
}
