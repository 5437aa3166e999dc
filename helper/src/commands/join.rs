//! `join FILE`: this machine joins the cluster a join file names, as an agent
//! or as a server (a member of embedded etcd).
//! The file is read and every problem with it reported before anything else;
//! then the join steps run as install's do (journalled, resumable, undone by
//! uninstall).

use anyhow::{bail, Result};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

use super::confirm::require_root;
use super::Ctx;
use crate::cli::JoinArgs;
use crate::joinfile::{JoinFile, NodeRole};
use crate::journal::{Journal, Relation};
use crate::steps::{self, InstallCx, InstallOptions, UfwMode};
use crate::{lock, runner};
use floppies_format::bundle::Bundle;
use floppies_format::error::{ExitCode, Failure};

/// Reads and checks the join file; every problem with it in one refusal.
pub fn read_join_file(path: &camino::Utf8Path) -> Result<JoinFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(ExitCode::Preflight, format!("could not read the join file '{path}': {e}; nothing was changed"))
            .help("give the path of the file 'sudo floppies node add' wrote on a server")
    })?;
    JoinFile::parse(&text).map_err(|problems| {
        Failure::new(ExitCode::Preflight, format!("'{path}' cannot be used as a join file, nothing was changed: {}", problems.join("; ")))
            .help("make a new one on a server ('sudo floppies node add --out FILE') and copy it whole")
            .into()
    })
}

pub fn run(ctx: &Ctx, args: &JoinArgs) -> Result<()> {
    let file = read_join_file(&args.file)?;
    let role = file.role.name();
    // As install: the manifest now, the payload verified while unpack extracts it.
    let bundle = Bundle::from_arg(ctx.global.bundle.as_deref(), "join")?;
    let manifest = bundle.manifest()?;
    crate::fault::arm(&manifest.bundle.profile);
    if std::fs::metadata(&args.file).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        ctx.out.warn(format!("'{}' can be read by users other than root; it holds the cluster's token: delete it once joined", args.file));
    }
    // The network step is install's (the default route, firewalld); the
    // join-firewall step adds the role's ufw rules, from the servers only.
    let network_ufw = if args.ufw == UfwMode::Disable { UfwMode::Disable } else { UfwMode::Leave };
    let opts = InstallOptions { ufw: network_ufw, wait_timeout: args.wait_timeout, tls: None };
    let all = steps::join_steps(Some(&file), args.ufw);
    let layout = ctx.layout;
    let existing = Journal::load(&layout.state_file())?;
    refuse_other_installation(existing.as_ref(), &bundle)?;
    if ctx.global.dry_run {
        let bar = ctx.out.bytes_bar(bundle.header.payload_size, "verifying");
        floppies_format::archive::verify(bar.wrap_read(bundle.payload()?), &bundle.expected())?;
        bar.finish_and_clear();
        let mut journal = match existing {
            Some(j) => j,
            None => Journal::for_bundle(&bundle.header),
        };
        let mut cx = InstallCx { out: ctx.out, layout, bundle: Some(&bundle), manifest: Some(manifest), opts, journal: journal.clone() };
        let report = steps::join::join_report(&cx, &file);
        journal.record("preflight", serde_json::to_value(&report.facts)?);
        cx.journal = journal;
        let plan = steps::plan(&cx, &all);
        let title = format!(
            "Join plan: this machine ({}) joins {} as {}, floppies {}:",
            steps::join::node_name(),
            file.servers.join(", "),
            article(file.role),
            bundle.header.version
        );
        ctx.out.data(&json!({ "preflight": report, "plan": plan, "changed": false }), || format!("{}\n{}", report.render(), steps::render_plan(&title, &plan)));
        return Ok(());
    }
    require_root("join")?;
    let _lock = lock::acquire(&layout.lock_file())?;
    let existing = Journal::load(&layout.state_file())?;
    refuse_other_installation(existing.as_ref(), &bundle)?;
    runner::log_to(&layout.log_file("join"))?;
    runner::log_line(&format!("== floppies join {} ({}), servers {}", bundle.header.version, bundle.path, file.servers.join(", ")));
    let journal = existing.map(|j| Journal { build: bundle.header.payload_sha256.clone(), ..j }).unwrap_or_else(|| Journal::for_bundle(&bundle.header));
    let mut cx = InstallCx { out: ctx.out, layout, bundle: Some(&bundle), manifest: Some(manifest), opts, journal };
    let outcome = steps::run_install(&mut cx, &all)?;
    let node = steps::join::node_name();
    ctx.out.data(&json!({ "node": node, "role": role, "servers": file.servers, "changed": outcome.changed, "unchanged": outcome.unchanged }), || {
        let head = if outcome.changed.is_empty() {
            format!("This machine ({node}) is {} of the cluster at {} and Ready: unchanged.", article(file.role), file.servers.join(", "))
        } else {
            format!("This machine ({node}) joined the cluster at {} as {} and is Ready.", file.servers.join(", "), article(file.role))
        };
        let leave = match file.role {
            NodeRole::Agent => format!("sudo floppies uninstall, then 'sudo floppies node remove {node}' on a server"),
            NodeRole::Server => format!("'sudo floppies node remove {node}' on another server (etcd forgets this member), then sudo floppies uninstall"),
        };
        format!(
            "{head}
  On a server:  sudo floppies node list
  Delete the join file now: rm {}   (it holds the cluster's token)
  Status here:  sudo floppies status
  To leave:     {leave}",
            args.file
        )
    });
    Ok(())
}

/// A machine that already runs floppies otherwise (a server of its own, or
/// joined with another build) is not joined over it.
fn refuse_other_installation(existing: Option<&Journal>, bundle: &Bundle) -> Result<()> {
    let Some(j) = existing else { return Ok(()) };
    if !steps::is_joined(j) {
        bail!(Failure::new(ExitCode::Preflight, format!("floppies {} is installed on this machine as a server of its own; nothing was changed", j.version))
            .help("a machine joins only empty: 'sudo floppies uninstall' first (it removes that installation's data unless --keep-data)"));
    }
    if j.relation(&bundle.header) != Relation::Same {
        bail!(Failure::new(ExitCode::Preflight, format!("this machine joined with floppies {} (another build); nothing was changed", j.version))
            .help("leave first ('sudo floppies uninstall'), then join with this file and a join file from the upgraded server"));
    }
    Ok(())
}

fn article(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Agent => "an agent",
        NodeRole::Server => "a server",
    }
}

/// Used by uninstall: what to tell the administrator of a joined machine.
pub fn leave_hint(journal: &Journal) -> Option<String> {
    let role = steps::join::joined_role(journal)?;
    let servers = steps::join::joined_servers(journal).join(", ");
    let node = steps::join::node_name();
    Some(match role {
        NodeRole::Agent => format!("This machine was an agent of the cluster at {servers}: on a server, run 'sudo floppies node remove {node}' so the cluster forgets it."),
        NodeRole::Server => format!(
            "This machine was a server of the cluster at {servers}: if 'sudo floppies node remove {node}' has not been run on another server yet, run it now, so etcd forgets this member."
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_or_truncated_join_file_is_a_preflight_refusal() {
        let dir = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-joinfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = read_join_file(&dir.join("missing.json")).unwrap_err();
        assert_eq!(floppies_format::error::classify(&err).0, ExitCode::Preflight);
        std::fs::write(dir.join("cut.json"), "{\"kind\": \"floppies-join\", \"tok").unwrap();
        let err = read_join_file(&dir.join("cut.json")).unwrap_err();
        assert_eq!(floppies_format::error::classify(&err).0, ExitCode::Preflight);
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
