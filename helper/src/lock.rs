//! Only one install or uninstall at a time: an exclusive lock on
//! /run/floppies.lock holding the PID of its owner. The kernel drops the lock
//! when the process dies, so a killed run never blocks the next.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use std::fs::{self, File, TryLockError};
use std::io::{Read, Seek, Write};

use floppies_format::error::{ExitCode, Failure};

/// Held for the life of the run.
pub struct RunLock {
    _file: File,
}

pub fn acquire(path: &Utf8Path) -> Result<RunLock> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("could not create '{dir}'"))?;
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("could not open the lock file '{path}'"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            bail!(Failure::new(
                ExitCode::Locked,
                format!("another floppies install or uninstall is running (PID {})", if pid.is_empty() { "unknown" } else { pid })
            )
            .help("wait for it to finish, or stop it, then run this again"));
        }
        Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("could not lock '{path}'")),
    }
    file.set_len(0).and_then(|_| file.rewind()).and_then(|_| writeln!(file, "{}", std::process::id())).with_context(|| format!("could not write '{path}'"))?;
    Ok(RunLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_naming_the_pid() {
        let path = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-lock-{}", std::process::id()));
        let first = acquire(&path).unwrap();
        let err = acquire(&path).err().expect("second lock must fail");
        let text = format!("{err:#}");
        assert!(text.contains(&format!("PID {}", std::process::id())), "{text}");
        assert_eq!(floppies_format::error::classify(&err).0, ExitCode::Locked);
        drop(first);
        assert!(acquire(&path).is_ok(), "released when the holder drops");
        let _ = fs::remove_file(path);
    }
}
