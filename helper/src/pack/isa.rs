//! The minimum x86-64 level an image needs, derived from its binaries: the
//! GNU property note X86_ISA_1_NEEDED that the dynamic loader and executables
//! carry when built for a level (`-march=x86-64-vN -Wl,-z,x86-64-vN`; RHEL 9 /
//! UBI9 builds its glibc that way, which is why MinIO's default image needs
//! v2). The build records it per image in manifest.json; preflight compares
//! the host's level with it instead of a hard-coded list.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};

const PT_NOTE: u32 = 4;
const PT_GNU_PROPERTY: u32 = 0x6474_e553;
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;
/// Notes sit right after the program headers; this much of a file is enough.
const HEAD: usize = 64 * 1024;

/// The x86-64 level an ELF file's ISA-needed note asks for (1..=4), None
/// when it is not an x86-64 ELF or carries no such note.
pub fn elf_level(head: &[u8]) -> Option<u8> {
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 || u16_at(head, 18)? != 62 {
        return None; // not ELF64, little-endian, EM_X86_64
    }
    let phoff = u64_at(head, 32)? as usize;
    let phentsize = u16_at(head, 54)? as usize;
    let phnum = u16_at(head, 56)? as usize;
    let mut level = None;
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let kind = u32_at(head, ph)?;
        if kind != PT_NOTE && kind != PT_GNU_PROPERTY {
            continue;
        }
        let (off, size) = (u64_at(head, ph + 8)? as usize, u64_at(head, ph + 32)? as usize);
        let notes = head.get(off..off.checked_add(size)?)?;
        level = level.max(notes_level(notes));
    }
    level
}

/// Walks the notes of one segment (8-byte aligned in ELF64 property notes).
fn notes_level(mut notes: &[u8]) -> Option<u8> {
    let mut level = None;
    while notes.len() >= 12 {
        let (namesz, descsz, kind) = (u32_at(notes, 0)? as usize, u32_at(notes, 4)? as usize, u32_at(notes, 8)?);
        let name_end = 12 + namesz.next_multiple_of(4);
        let desc = notes.get(name_end..name_end.checked_add(descsz)?)?;
        if kind == NT_GNU_PROPERTY_TYPE_0 && notes.get(12..12 + namesz)? == b"GNU\0" {
            level = level.max(properties_level(desc));
        }
        let step = name_end + descsz.next_multiple_of(4);
        notes = notes.get(step.next_multiple_of(4).min(notes.len())..)?;
    }
    level
}

fn properties_level(mut desc: &[u8]) -> Option<u8> {
    while desc.len() >= 8 {
        let (kind, size) = (u32_at(desc, 0)?, u32_at(desc, 4)? as usize);
        if kind == GNU_PROPERTY_X86_ISA_1_NEEDED && size >= 4 {
            let bits = u32_at(desc, 8)? & 0xf;
            return (bits != 0).then(|| 32 - bits.leading_zeros() as u8);
        }
        desc = desc.get((8 + size).next_multiple_of(8).min(desc.len())..)?;
    }
    None
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A minimal x86-64 ELF file whose only content is an ISA-needed note for
/// LEVEL: what the test profile's stand-in images carry so that preflight's
/// level logic runs on the same data as for real images.
pub fn minimal_elf(level: u8) -> Vec<u8> {
    let bits: u32 = (1u32 << level) - 1; // baseline..vN, as the linker writes it
    let mut note = Vec::new();
    note.extend(4u32.to_le_bytes()); // namesz
    note.extend(16u32.to_le_bytes()); // descsz
    note.extend(NT_GNU_PROPERTY_TYPE_0.to_le_bytes());
    note.extend(b"GNU\0");
    note.extend(GNU_PROPERTY_X86_ISA_1_NEEDED.to_le_bytes());
    note.extend(4u32.to_le_bytes());
    note.extend(bits.to_le_bytes());
    note.extend(0u32.to_le_bytes()); // pad to 8
    let note_off: u64 = 64 + 56;
    let mut elf = Vec::new();
    elf.extend(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(62u16.to_le_bytes()); // EM_X86_64
    elf.extend(1u32.to_le_bytes());
    elf.extend(0u64.to_le_bytes()); // entry
    elf.extend(64u64.to_le_bytes()); // phoff
    elf.extend(0u64.to_le_bytes()); // shoff
    elf.extend(0u32.to_le_bytes());
    elf.extend(64u16.to_le_bytes()); // ehsize
    elf.extend(56u16.to_le_bytes()); // phentsize
    elf.extend(1u16.to_le_bytes()); // phnum
    elf.extend([0u8; 6]); // shentsize, shnum, shstrndx
    elf.extend(PT_NOTE.to_le_bytes());
    elf.extend(4u32.to_le_bytes()); // PF_R
    elf.extend(note_off.to_le_bytes());
    elf.extend(note_off.to_le_bytes()); // vaddr
    elf.extend(note_off.to_le_bytes()); // paddr
    elf.extend((note.len() as u64).to_le_bytes());
    elf.extend((note.len() as u64).to_le_bytes());
    elf.extend(8u64.to_le_bytes());
    elf.extend(note);
    elf
}

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

    #[test]
    fn minimal_elf_round_trips_every_level() {
        for level in 1..=4 {
            assert_eq!(elf_level(&minimal_elf(level)), Some(level));
        }
    }

    #[test]
    fn not_elf_or_no_note_is_none() {
        assert_eq!(elf_level(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(elf_level(&[]), None);
        let mut truncated = minimal_elf(3);
        truncated.truncate(100);
        assert_eq!(elf_level(&truncated), None, "a note beyond the data is not read");
    }

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
