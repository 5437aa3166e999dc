//! What the stub hands over: the bundle path, and the private temp dir it
//! unpacked us into, which we remove at once (our code is already loaded), so
//! nothing is left behind however we exit, even on SIGKILL.

use std::fs;
use std::path::Path;

/// The environment variable naming the stub's temp dir.
pub const TMPDIR_VAR: &str = "FLOPPIES_STUB_TMPDIR";

/// Files the stub puts in its temp dir; anything else means it is not ours.
const STUB_FILES: &[&str] = &["floppies", "exec-probe"];

/// Removes the stub's temp dir, if the variable names one that looks like ours.
pub fn remove_stub_tmpdir() {
    let Some(dir) = std::env::var_os(TMPDIR_VAR) else { return };
    std::env::remove_var(TMPDIR_VAR);
    let dir = Path::new(&dir);
    let looks_ours = dir.is_absolute()
        && dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("floppies."))
        && fs::read_dir(dir).is_ok_and(|entries| entries.flatten().all(|e| e.file_name().to_str().is_some_and(|n| STUB_FILES.contains(&n))));
    if looks_ours {
        for name in STUB_FILES {
            let _ = fs::remove_file(dir.join(name));
        }
        let _ = fs::remove_dir(dir);
    }
}
