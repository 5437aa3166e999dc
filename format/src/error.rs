//! Failures the user can act on, with the exit code they map to.
//!
//! Anything else that reaches `main` is reported with its context chain and
//! exit code 1. A `Failure` anywhere in an error's chain decides the exit code
//! and contributes a `help:` line.

use std::fmt;

/// Documented exit codes (README.md and `floppies --help` list them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Something failed; the message says what.
    Failed = 1,
    /// The command line was wrong (clap uses 2 as well).
    Usage = 2,
    /// The bundle is damaged: a checksum or size does not match.
    BadBundle = 3,
    /// Preflight found a problem that must be fixed first.
    Preflight = 4,
    /// The command or step is not built yet.
    NotBuilt = 5,
    /// Another install or uninstall holds the lock.
    Locked = 6,
    /// `status`: something is not healthy.
    Unhealthy = 7,
    /// The user declined a confirmation, or none could be asked.
    Declined = 8,
}

/// An error with an exit code and, where the user can act, a remedy.
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
    pub help: Option<String>,
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Failure { code, message: message.into(), help: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A step or command that later work fills in: says so, never pretends.
    pub fn not_built(what: &str) -> Self {
        Failure::new(ExitCode::NotBuilt, format!("{what} is not built yet in this version of floppies"))
            .help("use '--dry-run' to see the planned steps; this bundle cannot perform them yet")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code and help line for an error chain.
pub fn classify(err: &anyhow::Error) -> (ExitCode, Option<String>) {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return (f.code, f.help.clone());
        }
    }
    (ExitCode::Failed, None)
}

/// Renders `error: outer: inner: innermost` as the user sees it.
pub fn render(err: &anyhow::Error) -> String {
    let parts: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        // anyhow repeats a Failure's message when it is also the context; skip exact repeats.
        if i > 0 && parts[i - 1].ends_with(part.as_str()) {
            continue;
        }
        if i > 0 {
            out.push_str(": ");
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn failure_in_chain_sets_code_and_help() {
        let err = Err::<(), _>(Failure::new(ExitCode::BadBundle, "payload checksum mismatch").help("get a fresh copy"))
            .context("could not verify 'x.run'")
            .unwrap_err();
        let (code, help) = classify(&err);
        assert_eq!(code, ExitCode::BadBundle);
        assert_eq!(help.as_deref(), Some("get a fresh copy"));
        assert_eq!(render(&err), "could not verify 'x.run': payload checksum mismatch");
    }

    #[test]
    fn plain_errors_are_code_one() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(classify(&err).0, ExitCode::Failed);
    }
}
