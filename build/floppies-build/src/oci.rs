//! OCI image archives (an OCI image layout in a tar), as containerd's
//! `ctr images import` and k3s's images directory take them.
//!
//! `standin` makes small, deterministic stand-in images for the test
//! profile; `write_archive` packs images pulled from registries into one
//! archive; `image_names` reads the names and digests an archive carries.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;

use crate::fetch::cache::Cache;
use crate::registry::pull::Pulled;
use crate::registry::reference::is_tagged_name;
use floppies_format::manifest::Image;

/// The annotation containerd uses for the full image name on import.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for the reference (we store the full name there too).
pub const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Builds a deterministic tar layer of (path, mode, bytes) entries.
fn layer_of(files: &[(&str, u32, &[u8])]) -> Result<Vec<u8>> {
    let mut layer = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut layer);
        for (path, mode, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(*mode);
            h.set_size(data.len() as u64);
            h.set_mtime(0);
            tar.append_data(&mut h, path, *data).context("could not build a stand-in layer")?;
        }
        tar.finish().context("could not build a stand-in layer")?;
    }
    Ok(layer)
}

/// Writes an archive of stand-in images, one per (reference, x86-64 level).
/// Each has a layer all of them share (stored once, as real images share
/// base layers) and a layer with a tiny ELF file whose ISA-needed note asks
/// for its level, so the build derives levels from stand-ins exactly as from
/// real images.
pub fn standin(images: &[(String, u8)], out: &Utf8Path) -> Result<()> {
    standin_stamped(images, None, out)
}

/// `standin` with STAMP written into each own layer, so that two versions'
/// archives share the common layer and differ in the others, as releases do.
pub fn standin_stamped(images: &[(String, u8)], stamp: Option<&str>, out: &Utf8Path) -> Result<()> {
    let note = b"stand-in image made by floppies-build for the test profile; not a real image\n";
    let shared = layer_of(&[("STAND-IN", 0o644, &note[..])])?;
    let shared_digest = digest(&shared);
    let mut blobs = vec![(shared_digest.clone(), shared)];
    let mut index_entries = Vec::new();
    for (reference, level) in images {
        let elf = floppies_format::elf::minimal_elf(*level);
        let stamp_text = stamp.map(|s| format!("stand-in built for {s}\n"));
        let mut files: Vec<(&str, u32, &[u8])> = vec![("usr/bin/stand-in", 0o755, &elf)];
        if let Some(text) = &stamp_text {
            files.push(("usr/share/stand-in/STAMP", 0o644, text.as_bytes()));
        }
        let own = layer_of(&files)?;
        let own_digest = digest(&own);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Labels": { "floppies.stand-in": "true", "floppies.stand-in.for": reference } },
            "rootfs": { "type": "layers", "diff_ids": [shared_digest, own_digest] },
        }))?;
        let config_digest = digest(&config);
        let layer = |d: &str, n: usize| json!({ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n });
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len() },
            "layers": [layer(&shared_digest, blobs[0].1.len()), layer(&own_digest, own.len())],
        }))?;
        let manifest_digest = digest(&manifest);
        index_entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": { CONTAINERD_NAME: reference, OCI_REF_NAME: reference },
        }));
        blobs.push((own_digest, own));
        blobs.push((config_digest, config));
        blobs.push((manifest_digest, manifest));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index_entries,
    }))?;
    blobs.sort();
    blobs.dedup_by(|a, b| a.0 == b.0);
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    let mut archive = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut archive);
        let mut put = |path: String, data: &[u8]| -> Result<()> {
            let mut h = tar::Header::new_ustar();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(0);
            tar.append_data(&mut h, path, data).context("could not write the image archive")
        };
        put("oci-layout".into(), &layout)?;
        put("index.json".into(), &index)?;
        for (d, data) in &blobs {
            put(format!("blobs/sha256/{}", d.trim_start_matches("sha256:")), data)?;
        }
        tar.finish()?;
    }
    fs::write(out, archive).with_context(|| format!("could not write '{out}'"))
}

/// The images listed in airgap/pins.json, each with the x86-64 level its
/// stand-in claims: an image that has a `cpuv1` sibling (same name) needs v2,
/// as upstream's does (that is why the variant exists); everything else v1.
pub fn pinned_standins(pins: &Utf8Path) -> Result<Vec<(String, u8)>> {
    let text = fs::read_to_string(pins).with_context(|| format!("could not read '{pins}'"))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("'{pins}' is not JSON"))?;
    let images: Vec<&Value> = v["images"].as_array().into_iter().flatten().collect();
    let has_cpuv1 = |name: &Value| images.iter().any(|i| i["name"] == *name && i["variant"] == "cpuv1");
    let out: Vec<(String, u8)> = images
        .iter()
        .filter_map(|i| {
            let reference = i["reference"].as_str()?.to_string();
            let level = if i["variant"] != "cpuv1" && has_cpuv1(&i["name"]) { 2 } else { 1 };
            Some((reference, level))
        })
        .collect();
    if out.is_empty() {
        bail!("'{pins}' lists no images");
    }
    Ok(out)
}

/// Writes IMAGES (pulled into CACHE) as one OCI archive: `oci-layout`,
/// `index.json` naming each image's pinned digest once, as `repo:tag` (an
/// index stays the named target: containerd imports only its platform's
/// manifest), then each blob once however many images share it. Only the
/// tagged name: k3s refuses a `repo@digest` name in an archive (it cannot
/// retag it) and adds `repo@digest` for each image itself. Sorted, mtime 0:
/// the same pins give the same bytes.
pub fn write_archive(images: &[Pulled], cache: &Cache, out: &Utf8Path) -> Result<()> {
    let names = archive_names(images)?;
    let entries: Vec<Value> = names
        .iter()
        .map(|(name, i)| {
            json!({
                "mediaType": i.media_type,
                "digest": i.digest,
                "size": i.size,
                "annotations": { CONTAINERD_NAME: name, OCI_REF_NAME: name },
            })
        })
        .collect();
    let index = serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries }))?;
    let mut blobs: Vec<&str> = images.iter().flat_map(|i| i.blobs.iter().map(String::as_str)).collect();
    blobs.sort();
    blobs.dedup();
    let tmp = camino::Utf8PathBuf::from(format!("{out}.tmp"));
    let file = fs::File::create(&tmp).with_context(|| format!("could not create '{tmp}'"))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let put = |tar: &mut tar::Builder<_>, path: &str, size: u64, data: &mut dyn Read| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path, data).with_context(|| format!("could not write '{path}' into '{tmp}'"))
    };
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    put(&mut tar, "oci-layout", layout.len() as u64, &mut &layout[..])?;
    put(&mut tar, "index.json", index.len() as u64, &mut &index[..])?;
    for digest in blobs {
        let hex = digest.trim_start_matches("sha256:");
        let path = cache.path(hex);
        let mut f = fs::File::open(&path).with_context(|| format!("could not open '{path}'"))?;
        let size = f.metadata().with_context(|| format!("could not stat '{path}'"))?.len();
        put(&mut tar, &format!("blobs/sha256/{hex}"), size, &mut f)?;
    }
    let file = tar.into_inner().context("could not finish the image archive")?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().with_context(|| format!("could not write '{tmp}'"))?;
    fs::rename(&tmp, out).with_context(|| format!("could not rename '{tmp}' to '{out}'"))
}

/// Each image's name in the archive, sorted; an image without a tag is
/// refused, as k3s would refuse it at import.
fn archive_names(images: &[Pulled]) -> Result<Vec<(&str, &Pulled)>> {
    let mut names: Vec<(&str, &Pulled)> = images.iter().map(|i| (i.name.as_str(), i)).collect();
    if let Some((name, _)) = names.iter().find(|(n, _)| !is_tagged_name(n)) {
        bail!("the image '{name}' has no tag: k3s imports only tagged names from an archive (it would log 'failed to retag images' on every start)\nhelp: pin the image as repository:tag@sha256:digest");
    }
    names.sort_by(|a, b| a.0.cmp(b.0));
    names.dedup_by(|a, b| a.0 == b.0);
    Ok(names)
}

/// The image names and manifest digests an OCI archive's index.json records.
pub fn image_names(archive: &Utf8Path) -> Result<Vec<Image>> {
    let mut tar = tar::Archive::new(super::tarball::open_archive(archive)?);
    for entry in tar.entries().with_context(|| format!("could not read '{archive}'"))? {
        let mut entry = entry.with_context(|| format!("could not read '{archive}'"))?;
        if entry.path()?.as_os_str() != "index.json" {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text)?;
        let index: Value = serde_json::from_str(&text).with_context(|| format!("'{archive}': index.json is not JSON"))?;
        let mut images = Vec::new();
        for m in index["manifests"].as_array().into_iter().flatten() {
            let name = m["annotations"][CONTAINERD_NAME].as_str().or(m["annotations"][OCI_REF_NAME].as_str());
            let (Some(name), Some(d)) = (name, m["digest"].as_str()) else {
                bail!("'{archive}': an image in index.json has no name; containerd would import it unnamed");
            };
            images.push(Image { reference: name.to_string(), digest: d.to_string(), x86_64_level: None, pinned: None });
        }
        images.sort_by(|a, b| a.reference.cmp(&b.reference));
        return Ok(images);
    }
    bail!("'{archive}' is not an OCI image archive: it has no index.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8PathBuf;

    fn pulled(name: &str) -> Pulled {
        let d = format!("sha256:{}", "ab".repeat(32));
        Pulled { name: name.to_string(), media_type: String::new(), digest: d.clone(), size: 0, manifest: d.clone(), blobs: vec![d] }
    }

    #[test]
    fn the_archive_names_each_image_once_and_only_by_tag() {
        let images = [pulled("docker.io/y4m4/s3www:v1.0.0"), pulled("docker.io/minio/minio:RELEASE.2025-09-07T16-13-09Z")];
        let names: Vec<&str> = archive_names(&images).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["docker.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "docker.io/y4m4/s3www:v1.0.0"]);
        assert!(names.iter().all(|n| is_tagged_name(n)), "k3s parses every name as tagged");
        let untagged = [pulled(&format!("docker.io/minio/minio@sha256:{}", "ab".repeat(32)))];
        let err = archive_names(&untagged).unwrap_err().to_string();
        assert!(err.contains("has no tag"), "{err}");
    }

    #[test]
    fn standin_archive_is_deterministic_and_named() {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-oci-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.tar");
        let b = dir.join("b.tar");
        let refs = vec![("localhost/stand-in/y:1".to_string(), 2), ("localhost/stand-in/x:1".to_string(), 1), ("localhost/stand-in/z:1".to_string(), 1)];
        standin(&refs, &a).unwrap();
        standin(&refs, &b).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
        let stamped = dir.join("stamped.tar");
        standin_stamped(&refs, Some("0.0.2"), &stamped).unwrap();
        assert_ne!(fs::read(&a).unwrap(), fs::read(&stamped).unwrap(), "a stamp changes the own layers");
        let names = image_names(&a).unwrap();
        assert_eq!(
            names.iter().map(|i| i.reference.as_str()).collect::<Vec<_>>(),
            ["localhost/stand-in/x:1", "localhost/stand-in/y:1", "localhost/stand-in/z:1"]
        );
        assert!(names[0].digest.starts_with("sha256:"));
        assert_ne!(names[0].digest, names[1].digest);
        let mut blobs = 0;
        for e in tar::Archive::new(fs::File::open(&a).unwrap()).entries().unwrap() {
            if e.unwrap().path().unwrap().starts_with("blobs") {
                blobs += 1;
            }
        }
        assert_eq!(blobs, 9, "one shared layer, one layer per level, a config and a manifest per image");
        let levels = crate::isa::archive_levels(&a, "x86_64").unwrap();
        let by_name: Vec<Option<u8>> = names.iter().map(|i| levels[&i.digest]).collect();
        assert_eq!(by_name, [Some(1), Some(2), Some(1)], "the build reads back the level each stand-in claims");
        // Compressed, as k3s ships its air-gap archive: the same names and levels.
        let zst = dir.join("a.tar.zst");
        fs::write(&zst, zstd::encode_all(&fs::read(&a).unwrap()[..], 3).unwrap()).unwrap();
        assert_eq!(image_names(&zst).unwrap(), names);
        assert_eq!(crate::isa::archive_levels(&zst, "x86_64").unwrap(), levels);
        fs::remove_dir_all(&dir).unwrap();
    }
}
