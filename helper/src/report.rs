//! The one place that writes to the terminal.
//!
//! Results go to stdout (human text, or JSON with `--json`); progress and
//! chatter go to stderr, hidden with `--quiet` or `--json`; a progress bar is
//! drawn only when stderr is a terminal, plain lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};

use floppies_format::error;

pub struct Reporter {
    json: bool,
    quiet: bool,
    tty: bool,
    /// Set once a result went to stdout: with --json, stdout holds one document.
    printed: std::cell::Cell<bool>,
}

impl Reporter {
    pub fn new(json: bool, quiet: bool) -> Self {
        Reporter { json, quiet, tty: std::io::stderr().is_terminal(), printed: std::cell::Cell::new(false) }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// Progress and chatter: stderr, unless quiet.
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet && !self.json {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A transient status line: only on a terminal, overwritten by the next.
    pub fn tick(&self, msg: impl AsRef<str>) {
        if self.tty && !self.quiet && !self.json {
            eprint!("\r\x1b[2K{}", msg.as_ref());
            if msg.as_ref().is_empty() {
                eprint!("\r");
            }
        }
    }

    /// Always shown, on stderr.
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }

    /// A result: JSON when asked for, the human rendering otherwise.
    pub fn data<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let text = if self.json { serde_json::to_string_pretty(value).expect("bug: a result could not be serialised") } else { human() };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", text.trim_end_matches('\n'));
        self.printed.set(true);
    }

    /// Prints an error chain and its remedy; returns the exit code.
    pub fn error(&self, err: &anyhow::Error) -> error::ExitCode {
        let (code, help) = error::classify(err);
        if self.json && !self.printed.get() {
            let value = serde_json::json!({
                "error": error::render(err),
                "help": help,
                "exit_code": code as i32,
            });
            println!("{}", serde_json::to_string_pretty(&value).expect("bug: error not serialisable"));
        }
        eprintln!("error: {}", error::render(err));
        if let Some(h) = help {
            eprintln!("help: {h}");
        }
        code
    }

    /// A bar over `total` bytes on a terminal; nothing otherwise.
    pub fn bytes_bar(&self, total: u64, label: &str) -> ProgressBar {
        if self.quiet || self.json || !self.tty {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({eta})").expect("bug: bad progress template").progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        bar
    }
}
