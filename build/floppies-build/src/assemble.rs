//! Concatenates stub, helper and payload into a `.run` file.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;

use floppies_format::hashing::sha256_of;
use floppies_format::header::{align, is_plain_absolute, render_stub, Header, HelperForm};

/// How the file holds its helper (the header's HELPER_FORM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperPart<'a> {
    /// As is: every full file.
    Raw,
    /// gzip'd (an update file whose helper changed): only gzip, which every
    /// Ubuntu has (Essential), unpacks it.
    Gzip,
    /// Not carried (an update file whose helper is byte-identical to the one
    /// its base installed at this path): the stub copies and checks that one.
    Host(&'a str),
}

pub struct Parts<'a> {
    pub stub_template: &'a Utf8Path,
    pub helper: &'a Utf8Path,
    pub helper_part: HelperPart<'a>,
    pub payload: &'a Utf8Path,
    pub version: &'a str,
    pub profile: &'a str,
    pub arch: &'a str,
    /// An update file's base version; empty for a full file.
    pub base_version: &'a str,
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
    let helper_run_size = helper.len() as u64;
    let (part, helper_form, helper_from) = match parts.helper_part {
        HelperPart::Raw => (helper, HelperForm::Raw, String::new()),
        HelperPart::Gzip => {
            let mut packed = gzip(&helper)?;
            packed.resize(align(packed.len() as u64) as usize, 0);
            (packed, HelperForm::Gzip, String::new())
        }
        HelperPart::Host(from) => {
            if !is_plain_absolute(from) {
                bail!("the helper's host path '{from}' is not a plain absolute path");
            }
            (Vec::new(), HelperForm::Host, from.to_string())
        }
    };
    if helper_form != HelperForm::Raw && parts.base_version.is_empty() {
        bail!("bug: only an update file (with a base version) may hold its helper {}", helper_form.name());
    }
    let payload_file = fs::File::open(parts.payload).with_context(|| format!("could not open '{}'", parts.payload))?;
    let (payload_sha256, payload_size) = sha256_of(payload_file).with_context(|| format!("could not read '{}'", parts.payload))?;
    let header = Header {
        version: parts.version.to_string(),
        profile: parts.profile.to_string(),
        arch: parts.arch.to_string(),
        stub_size: 0,
        helper_size: part.len() as u64,
        helper_sha256,
        helper_form,
        helper_run_size,
        helper_from,
        base_version: parts.base_version.to_string(),
        payload_size,
        payload_sha256,
    };
    let (stub, stub_size) = render_stub(&template, &header)?;
    let header = Header { stub_size, ..header };
    let tmp = Utf8PathBuf::from(format!("{out}.tmp"));
    {
        let mut f = io::BufWriter::new(fs::File::create(&tmp).with_context(|| format!("could not create '{tmp}'"))?);
        f.write_all(stub.as_bytes())?;
        f.write_all(&part)?;
        io::copy(&mut fs::File::open(parts.payload)?, &mut f)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all().with_context(|| format!("could not write '{tmp}'"))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    fs::rename(&tmp, out).with_context(|| format!("could not rename '{tmp}' to '{out}'"))?;
    Ok(header)
}

/// DATA gzip'd at level 9 with no name and mtime 0: the same bytes give the same file.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}
