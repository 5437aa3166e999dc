//! Failures the user can act on, with the exit code they map to.
//!
//! Anything else that reaches `main` is reported with its context chain and
//! exit code 1. A `Failure` anywhere in an error's chain decides the exit code
//! and contributes a `help:` line.

use std::fmt;

/// Every exit code of the stub and the helper, with a short name (the
/// stub's `--help` line) and its meaning (`floppies --help`). The one list:
/// the stub's help is filled from it at build time, the helper's help is
/// made from it, and tests/docs checks README.md and docs/operations.md
/// against `floppies --help`. 5 ("not built yet") is retired: nothing
/// raises it any more, and the later codes keep their numbers.
pub const EXIT_CODES: &[(u8, &str, &str)] = &[
    (0, "ok", "success"),
    (1, "failed", "failure (the message says what)"),
    (2, "usage", "usage error"),
    (3, "damaged file", "the installer file is damaged (checksum or size mismatch)"),
    (4, "preflight failed", "preflight found a problem to fix first"),
    (6, "another run in progress", "another install or uninstall is running"),
    (7, "unhealthy", "status: something is not healthy"),
    (8, "declined", "a confirmation was declined or could not be asked (use --yes)"),
];

/// `Exit codes:` and one line per code, for `--help`.
pub fn exit_codes_help() -> String {
    let mut out = String::from("Exit codes:");
    for (code, _, meaning) in EXIT_CODES {
        out.push_str(&format!("\n  {code}  {meaning}"));
    }
    out
}

/// `0 ok, 1 failed, ...` wrapped at WIDTH, for the stub's `--help`.
pub fn exit_codes_line(width: usize) -> String {
    let mut lines = vec![String::from("Exit codes:")];
    let n = EXIT_CODES.len();
    for (i, (code, short, _)) in EXIT_CODES.iter().enumerate() {
        let word = format!("{code} {short}{}", if i + 1 == n { "." } else { "," });
        let last = lines.last_mut().expect("one line at least");
        if last.len() + 1 + word.len() > width {
            lines.push(word);
        } else {
            last.push(' ');
            last.push_str(&word);
        }
    }
    lines.join("\n")
}

/// The exit codes errors map to (each is in EXIT_CODES).
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
    fn every_exit_code_is_in_the_one_list() {
        let all = [ExitCode::Failed, ExitCode::Usage, ExitCode::BadBundle, ExitCode::Preflight, ExitCode::Locked, ExitCode::Unhealthy, ExitCode::Declined];
        for code in all {
            assert!(EXIT_CODES.iter().any(|(n, _, _)| *n == code as u8), "{code:?} is not in EXIT_CODES");
        }
        assert_eq!(EXIT_CODES.len(), all.len() + 1, "EXIT_CODES lists 0 and exactly the codes errors map to");
        let line = exit_codes_line(72);
        assert!(line.lines().all(|l| l.len() <= 72), "{line}");
        assert!(line.starts_with("Exit codes: 0 ok, 1 failed,") && line.ends_with("8 declined."), "{line}");
        assert!(!line.contains("5 "), "5 is retired: {line}");
        assert!(exit_codes_help().contains("\n  3  the installer file is damaged"));
    }

    #[test]
    fn plain_errors_are_code_one() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(classify(&err).0, ExitCode::Failed);
    }
}
