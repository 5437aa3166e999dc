//! /var/lib/floppies/state.json: which install steps are done and what each
//! changed, written after every step (temp file, fsync, rename), so an
//! install interrupted anywhere resumes and uninstall knows what to undo.

use anyhow::{Context, Result};
use camino::Utf8Path;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs;

use crate::files::{private_dir, write_private};
use floppies_format::header::Header;

pub const SCHEMA: u32 = 1;

/// Steps renamed since 0.1.0, as (old name, new name): a journal written
/// by an older helper is read with the new names, so an upgrade undoes them.
const RENAMED_STEPS: &[(&str, &str)] = &[("summary", "floppies-on-path")];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub schema: u32,
    /// The bundle version being (or last) installed.
    pub version: String,
    pub profile: String,
    /// The sha256 of the installed bundle's payload: tells two builds of one
    /// version apart. Empty in journals written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub build: String,
    /// True once every install step is done.
    pub complete: bool,
    pub steps: Vec<Entry>,
}

/// How a bundle relates to what is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The same build (or a journal too old to tell): resume or re-check.
    Same,
    /// Another version: an upgrade (or a downgrade).
    OtherVersion,
    /// Another build with the same version number (its content may differ).
    OtherBuild,
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
        Journal { schema: SCHEMA, version: version.into(), profile: profile.into(), build: String::new(), complete: false, steps: vec![] }
    }

    /// A fresh journal for installing this bundle.
    pub fn for_bundle(header: &Header) -> Journal {
        Journal { build: header.payload_sha256.clone(), ..Journal::new(&header.version, &header.profile) }
    }

    /// What this bundle is to the installation this journal describes.
    pub fn relation(&self, header: &Header) -> Relation {
        if !self.version.is_empty() && self.version != header.version {
            Relation::OtherVersion
        } else if !self.build.is_empty() && self.build != header.payload_sha256 {
            Relation::OtherBuild
        } else {
            Relation::Same
        }
    }

    /// Reads the journal; None when there is none.
    pub fn load(path: &Utf8Path) -> Result<Option<Journal>> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("could not read '{path}'")),
        };
        let mut journal: Journal =
            serde_json::from_str(&text).with_context(|| format!("'{path}' is not a valid floppies journal; move it aside to start afresh"))?;
        for entry in &mut journal.steps {
            if let Some((_, new)) = RENAMED_STEPS.iter().find(|(old, _)| *old == entry.name) {
                entry.name = (*new).into();
            }
        }
        Ok(Some(journal))
    }

    /// Writes atomically: a reader (or a power cut) sees the old or the new file, never half.
    pub fn save(&self, path: &Utf8Path) -> Result<()> {
        private_dir(path.parent().expect("bug: journal path has no parent"), 0o700)?;
        write_private(path, &serde_json::to_string_pretty(self).expect("bug: journal not serialisable"))
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

    fn header(version: &str, payload: &str) -> Header {
        Header {
            version: version.into(),
            profile: "test".into(),
            arch: "x86_64".into(),
            stub_size: 1,
            helper_size: 1,
            helper_sha256: "h".into(),
            helper_form: floppies_format::header::HelperForm::Raw,
            helper_run_size: 1,
            helper_from: String::new(),
            base_version: String::new(),
            payload_size: 1,
            payload_sha256: payload.into(),
        }
    }

    #[test]
    fn a_bundle_is_the_same_build_another_build_or_another_version() {
        let installed = Journal::for_bundle(&header("1.0", "aaa"));
        assert_eq!(installed.build, "aaa");
        assert_eq!(installed.relation(&header("1.0", "aaa")), Relation::Same);
        assert_eq!(installed.relation(&header("1.0", "bbb")), Relation::OtherBuild);
        assert_eq!(installed.relation(&header("1.1", "aaa")), Relation::OtherVersion);
        assert_eq!(installed.relation(&header("1.1", "bbb")), Relation::OtherVersion);
        // A journal from before builds were recorded cannot tell builds apart.
        let old: Journal = serde_json::from_str(r#"{"schema":1,"version":"1.0","profile":"test","complete":true,"steps":[]}"#).unwrap();
        assert_eq!(old.build, "");
        assert_eq!(old.relation(&header("1.0", "bbb")), Relation::Same);
        assert_eq!(old.relation(&header("2.0", "bbb")), Relation::OtherVersion);
        assert!(!serde_json::to_string(&old).unwrap().contains("build"), "an unknown build is not written as empty");
    }

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
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&path).unwrap().permissions()) & 0o777, 0o600);
        assert!(Journal::load(&dir.join("none.json")).unwrap().is_none());
        fs::write(&path, "{not json").unwrap();
        assert!(format!("{:#}", Journal::load(&path).unwrap_err()).contains("move it aside"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_journal_of_0_1_0_is_read_with_the_new_step_names() {
        let dir = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-journal-rename-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let old = r#"{"schema": 1, "version": "0.1.0", "profile": "test", "complete": true,
            "steps": [{"name": "unpack", "record": {}, "at": 1}, {"name": "summary", "record": {"link": "/usr/local/bin/floppies"}, "at": 2}]}"#;
        fs::write(&path, old).unwrap();
        let j = Journal::load(&path).unwrap().unwrap();
        assert!(j.entry("summary").is_none());
        assert_eq!(j.entry("floppies-on-path").unwrap().record["link"], "/usr/local/bin/floppies");
        assert!(j.entry("unpack").is_some(), "other names are kept");
        let _ = fs::remove_dir_all(&dir);
    }
}
