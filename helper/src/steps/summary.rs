//! Step 10: `floppies` on PATH, so status, diagnose and uninstall work without
//! the .run file. The install command prints the summary afterwards.

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::{Cx, Step};
use crate::paths;
use floppies_format::hashing::sha256_of;

pub struct Summary;

/// Our copy of the helper: /opt/floppies/bin/floppies.
pub fn installed_helper() -> Utf8PathBuf {
    paths::host(paths::OPT_DIR).join("bin/floppies")
}

fn self_sha() -> Result<String> {
    Ok(sha256_of(fs::File::open("/proc/self/exe").context("could not open /proc/self/exe")?)?.0)
}

impl Step for Summary {
    fn name(&self) -> &'static str {
        "summary"
    }

    fn summary(&self) -> &'static str {
        "put 'floppies' on PATH (status, diagnose, uninstall) and print where everything is"
    }

    fn undo_summary(&self) -> &'static str {
        "remove the 'floppies' command from PATH"
    }

    fn done(&self, _cx: &Cx) -> Result<bool> {
        let link_ok = fs::read_link(paths::host(paths::BIN_LINK)).is_ok_and(|t| t == installed_helper().as_std_path());
        let same = fs::File::open(installed_helper()).ok().and_then(|f| sha256_of(f).ok()).map(|(s, _)| s);
        Ok(link_ok && same == Some(self_sha()?))
    }

    fn apply(&self, _cx: &mut Cx) -> Result<Value> {
        let dst = installed_helper();
        let dir = dst.parent().expect("bug: helper path has a parent");
        fs::create_dir_all(dir).with_context(|| format!("could not create '{dir}'"))?;
        let tmp = dir.join(".floppies.tmp");
        fs::copy("/proc/self/exe", &tmp).with_context(|| format!("could not copy the helper to '{tmp}'"))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        fs::rename(&tmp, &dst).with_context(|| format!("could not rename '{tmp}' to '{dst}'"))?;
        let link = paths::host(paths::BIN_LINK);
        let link_tmp = link.with_file_name(".floppies.tmp");
        let _ = fs::remove_file(&link_tmp);
        fs::create_dir_all(link.parent().expect("bug: link has a parent"))?;
        std::os::unix::fs::symlink(&dst, &link_tmp).with_context(|| format!("could not create '{link_tmp}'"))?;
        fs::rename(&link_tmp, &link).with_context(|| format!("could not create '{link}'"))?;
        Ok(json!({ "helper": dst, "link": link }))
    }

    fn undo(&self, _cx: &Cx, _record: &Value) -> Result<()> {
        let link = paths::host(paths::BIN_LINK);
        // Only our link: a different floppies on PATH is not ours to remove.
        if fs::read_link(&link).is_ok_and(|t| t == installed_helper().as_std_path()) {
            fs::remove_file(&link).with_context(|| format!("could not remove '{link}'"))?;
        }
        Ok(())
    }
}
