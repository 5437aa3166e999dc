use anyhow::{bail, Result};
use serde_json::json;

use super::confirm::{confirm, require_root};
use super::{uninstall, Ctx};
use crate::cli::InstallArgs;
use crate::journal::{Journal, Relation};
use crate::rebase::{self, Fit, Places};
use crate::steps::{self, InstallCx, InstallOptions, UninstallOptions};
use crate::{lock, preflight, runner};
use floppies_format::bundle::Bundle;
use floppies_format::error::{ExitCode, Failure};

/// Reads the payload once: the manifest (its first entry) here, the rest
/// while the unpack step extracts it into a staging directory that becomes
/// the release only if the payload's sha256 matches (a damaged payload exits
/// 3 and commits nothing). The whole payload is verified before only when
/// another installation is to be removed first, so the old one is never
/// removed for a file that turns out damaged, and in a `--dry-run`, which
/// reports a damaged file as install would.
pub fn run(ctx: &Ctx, args: &InstallArgs) -> Result<()> {
    let bundle = Bundle::from_arg(ctx.global.bundle.as_deref(), "install")?;
    let manifest = bundle.manifest()?;
    crate::fault::arm(&manifest.bundle.profile);
    // A customer's certificate and key are checked before anything changes.
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        crate::tls::check_customer(cert, key)?;
    }
    let opts = InstallOptions { ufw: args.ufw, wait_timeout: args.wait_timeout, tls: args.tls_cert.clone().zip(args.tls_key.clone()) };
    let all = steps::install_steps();
    let layout = ctx.layout;
    // An update file installs as its full file's build (rebase::identity).
    let ident = rebase::identity(&bundle.header, &manifest);
    let places = Places::of(layout);
    if ctx.global.dry_run {
        // A preview says what install would say of a damaged file (exit 3).
        verify_whole(ctx, &bundle)?;
        let existing = Journal::load(&layout.state_file())?;
        return dry_run(ctx, &bundle, &ident, manifest, opts, existing, &all);
    }
    require_root("install")?;
    let (_lock, existing) = lock_then_load(&layout.lock_file(), &layout.state_file())?;
    runner::log_to(&layout.log_file("install"))?;
    runner::log_line(&format!("== floppies install {} ({})", bundle.header.version, bundle.path));
    if let Some(j) = existing.as_ref().filter(|j| steps::is_joined(j)) {
        bail!(Failure::new(
            ExitCode::Failed,
            format!(
                "this machine is {} of the cluster at {} (floppies {}); install would make it a server of a cluster of its own, and leave the cluster on mixed builds",
                if steps::join::joined_role(j) == Some(crate::joinfile::NodeRole::Server) { "a joined server" } else { "an agent" },
                steps::join::joined_servers(j).join(", "),
                j.version
            )
        )
        .help("upgrade the servers first, then here: 'sudo floppies uninstall' and 'join' with the new file and a new join file (docs: 'Adding a machine')"));
    }
    // An update file: refused unless its base build is installed; the new
    // release is rebuilt from it and verified before anything is removed.
    if matches!(rebase::check(&places, &manifest, existing.as_ref())?, Fit::Base | Fit::Staged) {
        ctx.out.say(format!("Rebuilding floppies {} from the installed release and {} ...", ident.version, bundle.path));
        rebase::prepare(&places, &bundle, &manifest)?;
    }
    let journal = match existing.map(|j| (j.relation(&ident), j)) {
        // A journal from before builds were recorded learns this one's.
        Some((Relation::Same, same)) => Journal { build: ident.payload_sha256.clone(), ..same },
        Some((relation, old)) => {
            let question = match relation {
                Relation::OtherBuild => format!(
                    "Another build of floppies {} is installed (payload {}); this file is build {}. Replace it (uninstall keeping data, then install)?",
                    old.version,
                    short(&old.build),
                    short(&ident.payload_sha256)
                ),
                _ => format!("floppies {} is installed. Upgrade to {} (uninstall keeping data, then install)?", old.version, bundle.header.version),
            };
            if let Err(declined) = confirm(ctx, &question, "sudo sh floppies-installer.run install") {
                rebase::discard(&places);
                return Err(declined);
            }
            verify_whole(ctx, &bundle)?;
            ctx.out.say(format!("Upgrading: removing floppies {} (keeping data and credentials) ...", old.version));
            uninstall::remove(ctx, old, UninstallOptions { keep_data: true })?;
            if manifest.is_update() {
                // The removal took the helper an update file's stub runs; put
                // it back at once, so a run killed from here on can be resumed
                // with the same update file.
                steps::on_path::restore_helper(layout)?;
            }
            Journal::for_bundle(&ident)
        }
        None => Journal::for_bundle(&ident),
    };
    let mut cx = InstallCx { out: ctx.out, layout, bundle: Some(&bundle), manifest: Some(manifest), opts, journal };
    let outcome = steps::run_install(&mut cx, &all)?;
    let result = json!({
        "version": bundle.header.version,
        "url": "http://<this host>/ and https://<this host>/",
        "credentials": layout.credentials_dir(),
        "data": layout.app_data_dir(),
        "changed": outcome.changed,
        "unchanged": outcome.unchanged,
    });
    ctx.out.data(&result, || summary_text(layout, &bundle.header.version, outcome.changed.is_empty()));
    Ok(())
}

/// The whole payload against its sha256, with a progress bar: exit 3 if damaged.
fn verify_whole(ctx: &Ctx, bundle: &Bundle) -> Result<()> {
    let bar = ctx.out.bytes_bar(bundle.header.payload_size, "verifying");
    ctx.out.say(format!("Verifying {} ...", bundle.path));
    floppies_format::archive::verify(bar.wrap_read(bundle.payload()?), &bundle.expected())?;
    bar.finish_and_clear();
    Ok(())
}

fn summary_text(layout: &crate::layout::Layout, version: &str, unchanged: bool) -> String {
    let head = if unchanged {
        format!("floppies {version} is installed and healthy: unchanged.")
    } else {
        format!("floppies {version} is installed and serving its content.")
    };
    format!(
        "{head}
  Open:         http://THIS-HOST/ or https://THIS-HOST/ (any name or address of this machine)
  Credentials:  {cred} (root only)
  Data:         {data} (kept by 'uninstall --keep-data')
  Status:       sudo floppies status
  Support:      sudo floppies diagnose
  Uninstall:    sudo floppies uninstall --keep-data   (or without --keep-data to delete the data too)",
        cred = layout.credentials_dir(),
        data = layout.app_data_dir()
    )
}

fn dry_run(
    ctx: &Ctx,
    bundle: &Bundle,
    ident: &floppies_format::header::Header,
    manifest: floppies_format::manifest::Manifest,
    opts: InstallOptions,
    existing: Option<Journal>,
    all: &[Box<dyn steps::Step>],
) -> Result<()> {
    let installed = existing.as_ref().is_some_and(|j| j.entry("k3s-service").is_some());
    let report = preflight::run(ctx.layout, Some(&manifest), installed);
    // An update file says what it is, and is refused here as install would refuse it.
    let mut update = rebase::describe(&manifest);
    let places = Places::of(ctx.layout);
    match rebase::check(&places, &manifest, existing.as_ref())? {
        Fit::Base => {
            rebase::check_base_artifacts(&places, &manifest)?;
            let base = manifest.base.as_ref().map(|b| b.version.as_str()).unwrap_or_default();
            update.push(format!("the installed floppies {base} is this file's base: every artifact it takes from it is on this host, intact"));
        }
        Fit::Staged => update.push("an earlier run already rebuilt this release from its base".to_string()),
        Fit::Installed | Fit::Full => {}
    }
    update.extend(rebase::describe_helper(&bundle.header));
    // Another version or build is removed first (keeping data): plan from scratch.
    let (mut journal, replaces) = match existing {
        Some(j) if j.relation(ident) == Relation::Same => (j, None),
        other => (Journal::for_bundle(ident), other.map(|j| j.version)),
    };
    journal.record("preflight", serde_json::to_value(&report.facts)?);
    let cx = InstallCx { out: ctx.out, layout: ctx.layout, bundle: Some(bundle), manifest: Some(manifest), opts, journal };
    let plan = steps::plan(&cx, all);
    let mut title = format!("Install plan for floppies {} ({} profile, {}):", bundle.header.version, bundle.header.profile, bundle.header.arch);
    if let Some(old) = &replaces {
        title = format!("First: uninstall floppies {old} as installed now, keeping data and credentials.\n{title}");
    }
    if !update.is_empty() {
        title = format!("{}\n{title}", update.join("\n"));
    }
    ctx.out.data(&json!({ "preflight": report, "update": update, "replaces": replaces, "plan": plan, "changed": false }), || {
        format!("{}\n{}", report.render(), steps::render_plan(&title, &plan))
    });
    Ok(())
}

/// Takes the run lock, then reads the journal: read before, it could be one
/// that the run holding the lock is still changing.
fn lock_then_load(lock_file: &camino::Utf8Path, state: &camino::Utf8Path) -> Result<(lock::RunLock, Option<Journal>)> {
    let held = lock::acquire(lock_file)?;
    Ok((held, Journal::load(state)?))
}

/// The first 12 hex digits of a sha256: enough to tell builds apart in a question.
fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_is_read_only_under_the_lock() {
        let base = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-lock-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let (lock_file, state) = (base.join("lock"), base.join("state.json"));
        let other = lock::acquire(&lock_file).unwrap();
        // A journal that cannot be read: reading it before the lock would fail on it, not on the lock.
        std::fs::create_dir(&state).unwrap();
        let err = lock_then_load(&lock_file, &state).err().expect("the lock is held");
        assert_eq!(floppies_format::error::classify(&err).0, floppies_format::error::ExitCode::Locked, "{err:#}");
        drop(other);
        std::fs::remove_dir(&state).unwrap();
        std::fs::write(&state, serde_json::to_string(&Journal::new("2.0", "test")).unwrap()).unwrap();
        let (_held, journal) = lock_then_load(&lock_file, &state).unwrap();
        assert_eq!(journal.unwrap().version, "2.0");
        let _ = std::fs::remove_dir_all(&base);
    }
}
