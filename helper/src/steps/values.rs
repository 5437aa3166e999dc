//! The values the installer gives the chart (HelmChart valuesContent): what
//! only this host knows. Everything else is the chart's own default. With the
//! Secret names below, this is the installer's side of the chart's contract
//! (charts/floppies/values.yaml, `existingSecret` and `secretName`).

use anyhow::{bail, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::InstallCx;
use crate::layout::Layout;
use floppies_format::manifest::{Manifest, Role};

/// The Secrets the installer's manifest holds and the chart reads.
pub const MINIO_SECRET: &str = "floppies-minio-root";
pub const READER_SECRET: &str = "floppies-s3www-reader";
pub const TLS_SECRET: &str = "floppies-tls";

/// The MinIO data directory as the node sees it (the real host's path: the
/// kubelet mounts it, whatever root a test moved our files to).
pub fn minio_data_path() -> String {
    Layout::system().minio_data_dir().into_string()
}

/// The staged content directory as the node sees it.
pub fn content_path() -> String {
    Layout::system().current_content().into_string()
}

/// One digest for all the bundled content: sha256 over its files' sums and
/// paths. The seed job's name carries it, so new content runs the job again.
pub fn content_digest(m: &Manifest) -> String {
    let mut files: Vec<_> = m.artifacts.iter().filter(|a| a.role == Role::Content).map(|a| (&a.path, &a.sha256)).collect();
    files.sort();
    let mut h = Sha256::new();
    for (path, sha) in files {
        h.update(format!("{sha}  {path}\n"));
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The chart's values; tests/chart/installer-values.json is the same shape,
/// and the chart suite renders the chart with it (both sides are tested).
pub fn helm_values(cx: &InstallCx) -> Result<Value> {
    let variant = cx.record("preflight")["image_variant"].as_str().unwrap_or("default").to_string();
    let Some(manifest) = &cx.manifest else { bail!("bug: chart values without the bundle's manifest") };
    Ok(json!({
        "minio": {
            "imageVariant": variant,
            "existingSecret": MINIO_SECRET,
            "dataHostPath": minio_data_path(),
            // The data is a directory on this machine: MinIO runs here only, whatever nodes join.
            "dataNodeName": super::join::node_name(),
            "runAsUser": super::credentials::app_uid(cx)?,
        },
        "s3www": { "existingSecret": READER_SECRET },
        "content": { "hostPath": content_path(), "digest": content_digest(manifest) },
        "tls": { "secretName": TLS_SECRET },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dotted paths of every leaf.
    fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v.as_object() {
            Some(map) => map.iter().for_each(|(k, v)| leaves(v, &format!("{prefix}{k}."), out)),
            None => out.push(prefix.trim_end_matches('.').to_string()),
        }
    }

    #[test]
    fn the_values_have_the_shape_the_chart_suite_renders() {
        let manifest: Manifest = serde_json::from_value(json!({
            "schema": 1,
            "bundle": {"name": "floppies", "version": "1.0", "profile": "test", "arch": "x86_64"},
            "k3s": {"version": "stand-in"},
            "artifacts": [
                {"path": "content/b.gif", "role": "content", "size": 1, "sha256": "bb", "source": "test"},
                {"path": "content/a.txt", "role": "content", "size": 1, "sha256": "aa", "source": "test"},
                {"path": "k3s/k3s", "role": "k3s-binary", "size": 1, "sha256": "cc", "source": "test"}
            ]
        }))
        .unwrap();
        let out = crate::report::Reporter::new(false, true);
        let opts = super::super::InstallOptions::for_test();
        let layout = Layout::system();
        let mut cx = InstallCx {
            out: &out,
            layout: &layout,
            bundle: None,
            manifest: Some(manifest.clone()),
            opts,
            journal: crate::journal::Journal::new("1.0", "test"),
        };
        cx.journal.record("preflight", json!({"app_uid": 64803}));
        let values = helm_values(&cx).unwrap();
        assert_eq!(values["minio"]["runAsUser"], 64803, "the id preflight chose");
        assert_eq!(values["minio"]["dataNodeName"], super::super::join::node_name(), "MinIO's data stays on this node");
        let fixture: Value = serde_json::from_str(include_str!("../../../tests/chart/installer-values.json")).unwrap();
        let (mut ours, mut theirs) = (vec![], vec![]);
        leaves(&values, "", &mut ours);
        leaves(&fixture, "", &mut theirs);
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "helm_values and tests/chart/installer-values.json differ in shape");

        // The digest: over content only, in path order, and it moves with any file.
        let digest = values["content"]["digest"].as_str().unwrap().to_string();
        let expected = format!("sha256:{}", hex::encode(Sha256::digest(b"aa  content/a.txt\nbb  content/b.gif\n")));
        assert_eq!(digest, expected);
        let mut changed = manifest;
        changed.artifacts[0].sha256 = "bc".into();
        assert_ne!(content_digest(&changed), digest);
    }
}
