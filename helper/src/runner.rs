//! Every external command goes through here: logged, with its exit code and
//! output, and named in the error when it fails.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// How much of a command's output goes into the log and into errors.
const LOG_OUTPUT_MAX: usize = 16 * 1024;

static LOG: Mutex<Option<File>> = Mutex::new(None);

/// Starts logging commands to `path` (appending).
pub fn log_to(path: &Utf8PathBuf) -> Result<()> {
    let file = open_log(path)?;
    *LOG.lock().expect("bug: log lock poisoned") = Some(file);
    Ok(())
}

/// Opens a log for appending: the log holds every command's output, so its
/// directory is 0700 (made so, never wider for a moment, and narrowed if an
/// older install made it 0755) and the file 0600, never through a symlink.
fn open_log(path: &Utf8Path) -> Result<File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let dir = path.parent().context("bug: a log path without a directory")?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("could not create '{parent}'"))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(anyhow::Error::new(e).context(format!("could not create '{dir}'")));
        }
        _ => {}
    }
    let meta = std::fs::symlink_metadata(dir).with_context(|| format!("could not stat '{dir}'"))?;
    if !meta.is_dir() {
        bail!("the log directory '{dir}' is not a directory (a symlink?)");
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("could not set the mode of '{dir}'"))?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .with_context(|| format!("could not open the log '{path}'"))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).with_context(|| format!("could not set the mode of '{path}'"))?;
    Ok(file)
}

/// Appends a line to the run log, if one is open.
pub fn log_line(line: &str) {
    if let Some(f) = LOG.lock().expect("bug: log lock poisoned").as_mut() {
        let _ = writeln!(f, "{line}");
    }
}

/// What a finished command produced.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs a command to completion and returns its output whatever its exit code.
pub fn capture(program: &str, args: &[&str]) -> Result<Output> {
    capture_input(program, args, None)
}

/// `capture`, with INPUT on the command's stdin (None: /dev/null).
fn capture_input(program: &str, args: &[&str], input: Option<&[u8]>) -> Result<Output> {
    capture_logged(program, args, input, false)
}

/// Runs a command and logs it; with SECRET_STDOUT its stdout (a token) is
/// logged as its length only.
fn capture_logged(program: &str, args: &[&str], input: Option<&[u8]>, secret_stdout: bool) -> Result<Output> {
    let line = command_line(program, args);
    let started = Instant::now();
    let cmd = duct::cmd(program, args).stdout_capture().stderr_capture().unchecked();
    let cmd = match input {
        Some(bytes) => cmd.stdin_bytes(bytes.to_vec()),
        None => cmd.stdin_null(),
    };
    let out = cmd.run().with_context(|| format!("could not run '{line}'"))?;
    let output = Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let stdout = if secret_stdout { format!("  stdout: {} bytes, a secret: not logged\n", output.stdout.len()) } else { indent("stdout", &output.stdout) };
    log_line(&format!(
        "$ {line}{}\n  exit={} took={:.3}s\n{}{}",
        input.map_or(String::new(), |i| format!(" (stdin: {} bytes)", i.len())),
        output.code.map_or("signal".to_string(), |c| c.to_string()),
        started.elapsed().as_secs_f64(),
        stdout,
        indent("stderr", &output.stderr),
    ));
    Ok(output)
}

/// Runs a command that must succeed and prints a secret (a token): logged
/// like any other, except that its stdout is replaced by its length.
pub fn run_secret_output(program: &str, args: &[&str]) -> Result<String> {
    Ok(checked(program, args, capture_logged(program, args, None, true)?)?.stdout)
}

/// Runs a command for at most TIMEOUT, then kills it; output is kept either way.
pub fn capture_timeout(program: &str, args: &[&str], timeout: std::time::Duration) -> Result<(Output, bool)> {
    let line = command_line(program, args);
    let started = Instant::now();
    // Its own process group, so a time-out kills its children too (they hold the output pipes).
    let handle = duct::cmd(program, args)
        .stdout_capture()
        .stderr_capture()
        .stdin_null()
        .unchecked()
        .before_spawn(|cmd| {
            std::os::unix::process::CommandExt::process_group(cmd, 0);
            Ok(())
        })
        .start()
        .with_context(|| format!("could not run '{line}'"))?;
    let mut timed_out = false;
    let out = loop {
        if let Some(out) = handle.try_wait().with_context(|| format!("could not wait for '{line}'"))? {
            break out.clone();
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            // Each command runs in a process group of its own: end all of it.
            for pid in handle.pids().iter().filter_map(|p| rustix::process::Pid::from_raw(*p as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = handle.kill();
            break handle.wait().cloned().unwrap_or_else(|_| std::process::Output {
                status: std::os::unix::process::ExitStatusExt::from_raw(9),
                stdout: vec![],
                stderr: vec![],
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let output = Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    log_line(&format!(
        "$ {line}\n  exit={} took={:.3}s{}",
        output.code.map_or("signal".to_string(), |c| c.to_string()),
        started.elapsed().as_secs_f64(),
        if timed_out { " (killed: time limit)" } else { "" }
    ));
    Ok((output, timed_out))
}

/// Runs a command that must succeed.
pub fn run(program: &str, args: &[&str]) -> Result<Output> {
    checked(program, args, capture(program, args)?)
}

/// Runs a command that must succeed, with INPUT on its stdin.
pub fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> Result<Output> {
    checked(program, args, capture_input(program, args, Some(input))?)
}

fn checked(program: &str, args: &[&str], out: Output) -> Result<Output> {
    if !out.success() {
        let line = command_line(program, args);
        let detail = out.stderr.trim();
        bail!(
            "'{line}' failed with exit code {}{}",
            out.code.map_or("(killed by a signal)".to_string(), |c| c.to_string()),
            if detail.is_empty() { String::new() } else { format!(": {}", clip(detail)) }
        );
    }
    Ok(out)
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

fn clip(s: &str) -> &str {
    let mut end = s.len().min(LOG_OUTPUT_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn indent(label: &str, text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let body: String = clip(text).lines().map(|l| format!("  | {l}\n")).collect();
    format!("  {label}:\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_the_command_and_its_stderr() {
        let err = run("sh", &["-c", "echo nope >&2; exit 3"]).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("'sh -c 'echo nope >&2; exit 3'' failed with exit code 3: nope"), "{text}");
    }

    #[test]
    fn capture_returns_output_and_code() {
        let out = capture("sh", &["-c", "echo hi; exit 4"]).unwrap();
        assert_eq!(out.code, Some(4));
        assert_eq!(out.stdout, "hi\n");
    }

    #[test]
    fn a_command_past_its_time_limit_is_killed() {
        let started = Instant::now();
        let (out, timed_out) = capture_timeout("sh", &["-c", "echo started; sleep 30"], std::time::Duration::from_millis(300)).unwrap();
        assert!(timed_out);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_ne!(out.code, Some(0));
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let err = capture("floppies-no-such-program", &[]).unwrap_err();
        assert!(format!("{err:#}").contains("could not run 'floppies-no-such-program'"));
    }

    #[test]
    fn logs_are_private_even_in_a_directory_an_older_install_left_open() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("floppies-log-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = Utf8PathBuf::from_path_buf(base.join("var/log/floppies")).unwrap();
        let mode = |p: &Utf8Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        open_log(&dir.join("install-1.log")).unwrap();
        assert_eq!((mode(&dir), mode(&dir.join("install-1.log"))), (0o700, 0o600));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("install-1.log"), std::fs::Permissions::from_mode(0o644)).unwrap();
        open_log(&dir.join("install-1.log")).unwrap();
        assert_eq!((mode(&dir), mode(&dir.join("install-1.log"))), (0o700, 0o600));
        std::os::unix::fs::symlink("/etc/passwd", dir.join("planted.log")).unwrap();
        assert!(open_log(&dir.join("planted.log")).is_err(), "a log is never opened through a symlink");
        let _ = std::fs::remove_dir_all(&base);
    }
}
