//! Asking before destructive or far-reaching actions.

use anyhow::{bail, Result};
use std::io::{BufRead, IsTerminal, Write};

use super::Ctx;
use floppies_format::error::{ExitCode, Failure};

/// Proceeds with --yes, asks on a terminal, refuses otherwise.
pub fn confirm(ctx: &Ctx, question: &str, yes_hint: &str) -> Result<()> {
    if ctx.global.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(Failure::new(ExitCode::Declined, format!("{question} (no terminal to ask on)")).help(format!("run '{yes_hint} --yes' to confirm")));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!(Failure::new(ExitCode::Declined, "declined; nothing was changed"))
    }
}

/// Refuses to go on without root, before anything is touched.
pub fn require_root(command: &str) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(Failure::new(ExitCode::Preflight, format!("'{command}' must run as root; nothing was changed"))
            .help(format!("run 'sudo sh floppies-installer.run {command}'")));
    }
    Ok(())
}
