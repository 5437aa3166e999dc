//! /var/lib/floppies/state.json: which install steps are done and what each
//! changed, written after every step (temp file, fsync, rename), so an
//! install interrupted anywhere resumes and uninstall knows what to undo.

use anyhow::{Context, Result};
use camino::Utf8Path;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

pub const SCHEMA: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub schema: u32,
    /// The bundle version being (or last) installed.
    pub version: String,
    pub profile: String,
    /// True once every install step is done.
    pub complete: bool,
    pub steps: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    /// What the step changed, as it needs to know to undo it.
    pub record: Value,
    /// Seconds since the epoch.
    pub at: u64,
}

impl Journal {
    pub fn new(version: &str, profile: &str) -> Journal {
        Journal { schema: SCHEMA, version: version.into(), profile: profile.into(), complete: false, steps: vec![] }
    }

    /// Reads the journal; None when there is none.
    pub fn load(path: &Utf8Path) -> Result<Option<Journal>> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("could not read '{path}'")),
        };
        let journal = serde_json::from_str(&text)
            .with_context(|| format!("'{path}' is not a valid floppies journal; move it aside to start afresh"))?;
        Ok(Some(journal))
    }

    /// Writes atomically: a reader (or a power cut) sees the old or the new file, never half.
    pub fn save(&self, path: &Utf8Path) -> Result<()> {
        let dir = path.parent().expect("bug: journal path has no parent");
        fs::create_dir_all(dir).with_context(|| format!("could not create '{dir}'"))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).with_context(|| format!("could not set the mode of '{dir}'"))?;
        let tmp = dir.join(".state.json.tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("could not write '{tmp}'"))?;
        f.write_all(serde_json::to_string_pretty(self).expect("bug: journal not serialisable").as_bytes())
            .and_then(|_| f.sync_all())
            .with_context(|| format!("could not write '{tmp}'"))?;
        fs::rename(&tmp, path).with_context(|| format!("could not rename '{tmp}' to '{path}'"))?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.steps.iter().find(|e| e.name == name)
    }

    /// Records a finished step (replacing an earlier record of it).
    pub fn record(&mut self, name: &str, record: Value) {
        self.steps.retain(|e| e.name != name);
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.steps.push(Entry { name: name.into(), record, at });
    }

    pub fn forget(&mut self, name: &str) {
        self.steps.retain(|e| e.name != name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_is_private() {
        let dir = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-journal-{}", std::process::id()));
        let path = dir.join("state.json");
        let mut j = Journal::new("1.0", "test");
        j.record("unpack", serde_json::json!({"dir": "/opt/floppies/releases/1.0"}));
        j.record("unpack", serde_json::json!({"dir": "again"}));
        j.save(&path).unwrap();
        let back = Journal::load(&path).unwrap().unwrap();
        assert_eq!(back.steps.len(), 1);
        assert_eq!(back.entry("unpack").unwrap().record["dir"], "again");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(Journal::load(&dir.join("none.json")).unwrap().is_none());
        fs::write(&path, "{not json").unwrap();
        assert!(format!("{:#}", Journal::load(&path).unwrap_err()).contains("move it aside"));
        fs::remove_dir_all(dir).unwrap();
    }
}
