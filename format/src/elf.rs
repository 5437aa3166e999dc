//! The x86-64 level an ELF file needs: the GNU property note
//! X86_ISA_1_NEEDED that the dynamic loader and executables carry when built
//! for a level (`-march=x86-64-vN -Wl,-z,x86-64-vN`). The build reads it from
//! images (floppies-build's isa module); the helper's `debug` reads it from
//! files on the host. Hand-written rather than a general ELF crate: it reads
//! one note kind from the first 64 KiB, and must never panic on hostile bytes.

const PT_NOTE: u32 = 4;
const PT_GNU_PROPERTY: u32 = 0x6474_e553;
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;
/// Notes sit right after the program headers; this much of a file is enough.
pub const HEAD: usize = 64 * 1024;

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
}
