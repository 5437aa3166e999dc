//! The values the installer gives the chart (HelmChart valuesContent): what
//! only this host knows. Everything else is the chart's own default.

use anyhow::Result;
use serde_json::{json, Value};

use super::stage::{MINIO_SECRET, READER_SECRET, TLS_SECRET};
use super::Cx;
use crate::paths;

/// The MinIO data directory as the node sees it.
pub fn minio_data_path() -> String {
    format!("{}/data/minio", paths::DATA_DIR)
}

/// The staged content directory as the node sees it.
pub fn content_path() -> String {
    format!("{}/current/content", paths::OPT_DIR)
}

pub fn helm_values(cx: &Cx) -> Result<Value> {
    let variant = cx.record("preflight")["image_variant"].as_str().unwrap_or("default").to_string();
    Ok(json!({
        "minio": {
            "imageVariant": variant,
            "existingSecret": MINIO_SECRET,
            "dataHostPath": minio_data_path(),
        },
        "s3www": { "existingSecret": READER_SECRET },
        "content": { "hostPath": content_path() },
        "tls": { "secretName": TLS_SECRET },
    }))
}
