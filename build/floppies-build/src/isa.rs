//! The minimum x86-64 level an image needs, derived from its binaries: the
//! GNU property note X86_ISA_1_NEEDED that the dynamic loader and executables
//! carry when built for a level (`-march=x86-64-vN -Wl,-z,x86-64-vN`; RHEL 9 /
//! UBI9 builds its glibc that way, which is why MinIO's default image needs
//! v2). The build records it per image in manifest.json; preflight compares
//! the host's level with it instead of a hard-coded list.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use floppies_format::elf::{elf_level, HEAD};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};

/// The highest level any ELF file in a layer (tar; gzip, zstd or plain) needs.
pub fn layer_level(blob: impl Read) -> Result<Option<u8>> {
    let mut blob = BufReader::new(blob);
    let magic = {
        use std::io::BufRead;
        blob.fill_buf()?.get(..4).map(<[u8]>::to_vec).unwrap_or_default()
    };
    let reader: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(blob))
    } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::with_buffer(blob)?)
    } else {
        Box::new(blob)
    };
    let mut tar = tar::Archive::new(reader);
    let mut level = None;
    for entry in tar.entries().context("not a tar layer")? {
        let entry = entry.context("damaged tar layer")?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let mut head = Vec::with_capacity(HEAD.min(entry.size() as usize));
        entry.take(HEAD as u64).read_to_end(&mut head)?;
        level = level.max(elf_level(&head));
    }
    Ok(level)
}

/// For each image an OCI archive names (by manifest digest), the highest level
/// its binaries need; None where no binary carries a note (it runs on v1).
pub fn archive_levels(archive: &Utf8Path, arch: &str) -> Result<BTreeMap<String, Option<u8>>> {
    let open = || -> Result<tar::Archive<Box<dyn Read>>> { Ok(tar::Archive::new(super::tarball::open_archive(archive)?)) };
    // Pass 1: the JSON documents (index, manifests), which are small.
    let mut docs: BTreeMap<String, Value> = BTreeMap::new();
    let mut index = Value::Null;
    for entry in open()?.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if entry.size() > 4 << 20 {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        if path == "index.json" {
            index = serde_json::from_slice(&bytes).with_context(|| format!("'{archive}': index.json is not JSON"))?;
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                docs.insert(format!("sha256:{hex}"), v);
            }
        }
    }
    let platform_arch = if arch == "x86_64" { "amd64" } else { "arm64" };
    let mut image_layers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
        let Some(top) = m["digest"].as_str() else { bail!("'{archive}': an index entry has no digest") };
        let mut manifest = docs.get(top).with_context(|| format!("'{archive}': manifest {top} is missing"))?;
        if let Some(children) = manifest["manifests"].as_array() {
            let child = children
                .iter()
                .find(|c| c["platform"]["architecture"] == platform_arch && c["platform"]["os"] == "linux")
                .and_then(|c| c["digest"].as_str())
                .with_context(|| format!("'{archive}': image {top} has no linux/{platform_arch} manifest"))?;
            manifest = docs.get(child).with_context(|| format!("'{archive}': manifest {child} is missing"))?;
        }
        let layers = manifest["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str().map(str::to_string));
        image_layers.insert(top.to_string(), layers.collect());
    }
    // Pass 2: scan each layer once, however many images share it.
    let wanted: BTreeSet<&String> = image_layers.values().flatten().collect();
    let mut layer_levels: BTreeMap<String, Option<u8>> = BTreeMap::new();
    for entry in open()?.entries()? {
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(hex) = path.strip_prefix("blobs/sha256/") else { continue };
        let digest = format!("sha256:{hex}");
        if wanted.contains(&digest) {
            let level = layer_level(entry).with_context(|| format!("'{archive}': could not read layer {digest}"))?;
            layer_levels.insert(digest, level);
        }
    }
    let mut out = BTreeMap::new();
    for (image, layers) in image_layers {
        let mut level = None;
        for l in &layers {
            let Some(found) = layer_levels.get(l) else { bail!("'{archive}': layer {l} of image {image} is missing") };
            level = level.max(*found);
        }
        out.insert(image, level);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floppies_format::elf::minimal_elf;

    #[test]
    fn a_layer_needs_the_level_of_its_most_demanding_binary() {
        let mut layer = Vec::new();
        {
            let mut tar = tar::Builder::new(&mut layer);
            for (name, data) in [("bin/a", minimal_elf(2)), ("bin/b", minimal_elf(3)), ("etc/x", b"text".to_vec())] {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o755);
                tar.append_data(&mut h, name, &data[..]).unwrap();
            }
            tar.finish().unwrap();
        }
        assert_eq!(layer_level(&layer[..]).unwrap(), Some(3));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &layer).unwrap();
        assert_eq!(layer_level(&gz.finish().unwrap()[..]).unwrap(), Some(3));
        let zst = zstd::encode_all(&layer[..], 3).unwrap();
        assert_eq!(layer_level(&zst[..]).unwrap(), Some(3));
    }
}
