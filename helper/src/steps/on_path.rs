//! Step 10: `floppies` on PATH, so status, diagnose and uninstall work without
//! the .run file. (The install command prints where everything is afterwards.)

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};
use std::fs;

use super::{InstallCx, Step, UninstallCx};
use crate::files::{copy_atomic, symlink_atomic};
use crate::layout::Layout;
use floppies_format::hashing::sha256_of;

pub struct OnPath;

fn self_sha() -> Result<String> {
    Ok(sha256_of(fs::File::open("/proc/self/exe").context("could not open /proc/self/exe")?)?.0)
}

/// Copies the running helper to /opt/floppies/bin/floppies (atomically) and returns that path.
pub fn restore_helper(layout: &Layout) -> Result<Utf8PathBuf> {
    let dst = layout.installed_helper();
    let dir = dst.parent().expect("bug: helper path has a parent");
    fs::create_dir_all(dir).with_context(|| format!("could not create '{dir}'"))?;
    copy_atomic(Utf8Path::new("/proc/self/exe"), &dst, 0o755).context("could not copy the helper")?;
    Ok(dst)
}

impl Step for OnPath {
    fn name(&self) -> &'static str {
        // 0.1.0 called it "summary" (journal::RENAMED_STEPS).
        "floppies-on-path"
    }

    fn summary(&self) -> &'static str {
        "put 'floppies' on PATH (status, diagnose, uninstall)"
    }

    fn undo_summary(&self) -> &'static str {
        "remove the 'floppies' command from PATH"
    }

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        let link_ok = fs::read_link(cx.layout.bin_link()).is_ok_and(|t| t == cx.layout.installed_helper().as_std_path());
        let same = fs::File::open(cx.layout.installed_helper()).ok().and_then(|f| sha256_of(f).ok()).map(|(s, _)| s);
        Ok(link_ok && same == Some(self_sha()?))
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let dst = restore_helper(cx.layout)?;
        let link = cx.layout.bin_link();
        fs::create_dir_all(link.parent().expect("bug: link has a parent"))?;
        symlink_atomic(&dst, &link)?;
        Ok(json!({ "helper": dst, "link": link }))
    }

    fn undo(&self, cx: &UninstallCx, _record: &Value) -> Result<()> {
        let link = cx.layout.bin_link();
        // Only our link: a different floppies on PATH is not ours to remove.
        if fs::read_link(&link).is_ok_and(|t| t == cx.layout.installed_helper().as_std_path()) {
            fs::remove_file(&link).with_context(|| format!("could not remove '{link}'"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an update file's stub runs after an upgrade's removal: the running helper, byte for byte.
    #[test]
    fn restore_helper_puts_the_running_helper_where_update_files_look() {
        let root = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-restore-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let layout = Layout::at(&root);
        let dst = restore_helper(&layout).unwrap();
        assert_eq!(dst, layout.installed_helper());
        let got = sha256_of(fs::File::open(&dst).unwrap()).unwrap().0;
        let _ = fs::remove_dir_all(&root);
        assert_eq!(got, self_sha().unwrap());
    }
}
