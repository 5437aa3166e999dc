//! Concatenates stub, helper and payload into a `.run` file.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;

use floppies_format::hashing::sha256_of;
use floppies_format::header::{align, render_stub, Header};

pub struct Parts<'a> {
    pub stub_template: &'a Utf8Path,
    pub helper: &'a Utf8Path,
    pub payload: &'a Utf8Path,
    pub version: &'a str,
    pub profile: &'a str,
    pub arch: &'a str,
}

/// Writes the `.run` file and returns its header.
pub fn assemble(parts: &Parts, out: &Utf8Path) -> Result<Header> {
    let template = fs::read_to_string(parts.stub_template).with_context(|| format!("could not read '{}'", parts.stub_template))?;
    let mut helper = fs::read(parts.helper).with_context(|| format!("could not read '{}'", parts.helper))?;
    if !helper.starts_with(b"\x7fELF") {
        bail!("'{}' is not an ELF executable", parts.helper);
    }
    helper.resize(align(helper.len() as u64) as usize, 0);
    let (helper_sha256, _) = sha256_of(&helper[..])?;
    let payload_file = fs::File::open(parts.payload).with_context(|| format!("could not open '{}'", parts.payload))?;
    let (payload_sha256, payload_size) = sha256_of(payload_file).with_context(|| format!("could not read '{}'", parts.payload))?;
    let header = Header {
        version: parts.version.to_string(),
        profile: parts.profile.to_string(),
        arch: parts.arch.to_string(),
        stub_size: 0,
        helper_size: helper.len() as u64,
        helper_sha256,
        payload_size,
        payload_sha256,
    };
    let (stub, stub_size) = render_stub(&template, &header)?;
    let header = Header { stub_size, ..header };
    let tmp = Utf8PathBuf::from(format!("{out}.tmp"));
    {
        let mut f = io::BufWriter::new(fs::File::create(&tmp).with_context(|| format!("could not create '{tmp}'"))?);
        f.write_all(stub.as_bytes())?;
        f.write_all(&helper)?;
        io::copy(&mut fs::File::open(parts.payload)?, &mut f)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all().with_context(|| format!("could not write '{tmp}'"))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    fs::rename(&tmp, out).with_context(|| format!("could not rename '{tmp}' to '{out}'"))?;
    Ok(header)
}
