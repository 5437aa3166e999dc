//! An SPDX 2.3 (JSON) bill of materials for a built `.run` file, written
//! beside it from its own manifest: the file itself, then every artifact it
//! carries and every image in its archives, each with its sha256, where it
//! came from, and how it was pinned.

use anyhow::{Context, Result};
use camino::Utf8Path;
use serde_json::{json, Value};
use std::fs;

use floppies_format::bundle::Bundle;
use floppies_format::hashing::sha256_of;
use floppies_format::manifest::Artifact;

/// Writes the SBOM of the .run file RUN to OUT. CREATED is the SPDX
/// creation time (RFC 3339): SOURCE_DATE_EPOCH's, for reproducible builds.
pub fn write(run: &Utf8Path, created: &str, out: &Utf8Path) -> Result<()> {
    let bundle = Bundle::open(run)?;
    let manifest = bundle.manifest()?;
    let file = fs::File::open(run).with_context(|| format!("could not open '{run}'"))?;
    let (run_sha256, _) = sha256_of(file).with_context(|| format!("could not read '{run}'"))?;
    let name = run.file_name().unwrap_or("floppies-installer.run");
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Package-installer",
        "name": name,
        "versionInfo": manifest.bundle.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "checksums": [sha256(&run_sha256)],
        "comment": format!("{} profile, {}, k3s {}{}", manifest.bundle.profile, manifest.bundle.arch, manifest.k3s.version,
            if manifest.is_test() { "; a TEST bundle built from stand-ins, not a release" } else { "" }),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Package-installer",
    })];
    for (i, a) in manifest.artifacts.iter().enumerate() {
        let id = format!("SPDXRef-Artifact-{i}");
        packages.push(artifact_package(&id, a, &manifest.k3s.version));
        relationships.push(json!({ "spdxElementId": "SPDXRef-Package-installer", "relationshipType": "CONTAINS", "relatedSpdxElement": id }));
        for (j, image) in a.images.iter().filter(|i| !i.reference.contains('@')).enumerate() {
            let image_id = format!("{id}-Image-{j}");
            let (repo, tag) = image.reference.rsplit_once(':').unwrap_or((&image.reference, ""));
            let mut p = json!({
                "SPDXID": image_id,
                "name": repo,
                "versionInfo": tag,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "checksums": [sha256(image.digest.trim_start_matches("sha256:"))],
                "externalRefs": [{
                    "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                    "referenceLocator": format!("pkg:oci/{}@{}?repository_url={repo}&tag={tag}", repo.rsplit('/').next().unwrap_or(repo), image.digest.replace(':', "%3A")),
                }],
            });
            if let Some(pinned) = &image.pinned {
                p["comment"] = json!(format!("manifest digest {}; {pinned}", image.digest));
            }
            packages.push(p);
            relationships.push(json!({ "spdxElementId": id, "relationshipType": "CONTAINS", "relatedSpdxElement": image_id }));
        }
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{name} {}", manifest.bundle.version),
        "documentNamespace": format!("urn:floppies:sbom:{run_sha256}"),
        "creationInfo": { "created": created, "creators": [concat!("Tool: floppies-build-", env!("CARGO_PKG_VERSION"))] },
        "packages": packages,
        "relationships": relationships,
    });
    let tmp = camino::Utf8PathBuf::from(format!("{out}.tmp"));
    fs::write(&tmp, serde_json::to_vec_pretty(&doc)?).with_context(|| format!("could not write '{tmp}'"))?;
    fs::rename(&tmp, out).with_context(|| format!("could not rename '{tmp}' to '{out}'"))
}

fn artifact_package(id: &str, a: &Artifact, k3s_version: &str) -> Value {
    let version = match a.role {
        floppies_format::manifest::Role::K3sBinary | floppies_format::manifest::Role::K3sImages => k3s_version,
        _ => "NOASSERTION",
    };
    // The source is a URL with a note after it, an image list, or a stand-in.
    let location = a.source.split_whitespace().next().filter(|s| s.starts_with("https://")).unwrap_or("NOASSERTION");
    let mut comment = format!("payload path {}; source: {}", a.path, a.source);
    if let Some(pinned) = &a.pinned {
        comment.push_str(&format!("; {pinned}"));
    }
    json!({
        "SPDXID": id,
        "name": a.path,
        "versionInfo": version,
        "downloadLocation": location,
        "filesAnalyzed": false,
        "checksums": [sha256(&a.sha256)],
        "comment": comment,
    })
}

fn sha256(hex: &str) -> Value {
    json!({ "algorithm": "SHA256", "checksumValue": hex })
}

/// SOURCE_DATE_EPOCH (reproducible builds) or now, as SPDX wants it.
pub fn creation_time() -> Result<String> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse::<u64>().with_context(|| format!("SOURCE_DATE_EPOCH '{v}' is not a number of seconds"))?,
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("the clock is before 1970")?.as_secs(),
    };
    Ok(rfc3339(secs))
}

/// `YYYY-MM-DDThh:mm:ssZ` for seconds since 1970.
fn rfc3339(secs: u64) -> String {
    let (year, month, day, h, m, s) = floppies_format::time::civil_utc(secs);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_083_199), "2026-11-30T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
