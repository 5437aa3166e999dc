//! An opened `.run` file: its header checked against its size, its payload readable.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use crate::archive::{self, Expected};
use crate::error::{ExitCode, Failure};
use crate::header::Header;
use crate::manifest::{self, Manifest};

/// The payload is read in chunks of this size.
const READ_BUF: usize = 1 << 20;

pub struct Bundle {
    pub path: Utf8PathBuf,
    pub header: Header,
}

impl Bundle {
    /// Opens a `.run` file and refuses it if truncated or extended.
    pub fn open(path: &Utf8Path) -> Result<Bundle> {
        let header = Header::read(path)?;
        let size = std::fs::metadata(path).with_context(|| format!("could not stat '{path}'"))?.len();
        header.check_size(size).with_context(|| format!("'{path}' is damaged"))?;
        Ok(Bundle { path: path.to_path_buf(), header })
    }

    /// The bundle the stub handed us, or the one named with `--bundle`.
    pub fn from_arg(arg: Option<&Utf8Path>, command: &str) -> Result<Bundle> {
        match arg {
            Some(p) => Bundle::open(p),
            None => {
                bail!(Failure::new(ExitCode::Usage, format!("'{command}' needs the installer file"))
                    .help(format!("run 'sudo sh floppies-installer.run {command}'")))
            }
        }
    }

    pub fn expected(&self) -> Expected {
        Expected { sha256: self.header.payload_sha256.clone(), size: self.header.payload_size }
    }

    /// A reader over exactly the payload part.
    pub fn payload(&self) -> Result<impl Read> {
        let mut f = File::open(&self.path).with_context(|| format!("could not open '{}'", self.path))?;
        f.seek(SeekFrom::Start(self.header.payload_offset())).with_context(|| format!("could not seek in '{}'", self.path))?;
        Ok(BufReader::with_capacity(READ_BUF, f.take(self.header.payload_size)))
    }

    /// The helper part of a full file (form raw), checked against HELPER_SHA256.
    pub fn helper(&self) -> Result<Vec<u8>> {
        if self.header.helper_form != crate::header::HelperForm::Raw {
            bail!("'{}' does not hold its helper as is (HELPER_FORM {})", self.path, self.header.helper_form.name());
        }
        let mut f = File::open(&self.path).with_context(|| format!("could not open '{}'", self.path))?;
        f.seek(SeekFrom::Start(self.header.helper_offset())).with_context(|| format!("could not seek in '{}'", self.path))?;
        let mut helper = Vec::new();
        f.take(self.header.helper_size).read_to_end(&mut helper).with_context(|| format!("could not read '{}'", self.path))?;
        let (sha, _) = crate::hashing::sha256_of(&helper[..])?;
        if sha != self.header.helper_sha256 {
            bail!(Failure::new(
                ExitCode::BadBundle,
                format!("the helper part of '{}' is damaged (sha256 {sha}, expected {})", self.path, self.header.helper_sha256)
            ));
        }
        Ok(helper)
    }

    pub fn verify(&self) -> Result<()> {
        archive::verify(self.payload()?, &self.expected()).with_context(|| format!("could not verify '{}'", self.path))
    }

    pub fn list(&self) -> Result<Vec<archive::Listed>> {
        archive::list(self.payload()?, &self.expected()).with_context(|| format!("could not list '{}'", self.path))
    }

    pub fn extract(&self, target: &Utf8Path) -> Result<u64> {
        self.extract_through(target, |r| r)
    }

    /// Extracts through `wrap`, which sees every payload byte read (a
    /// progress bar wraps the reader here, so this crate needs no terminal).
    /// A payload whose hash does not match exits 3 (`ExitCode::BadBundle`)
    /// and leaves nothing in TARGET, however far the extraction got.
    pub fn extract_through<R: Read + Send>(&self, target: &Utf8Path, wrap: impl FnOnce(Box<dyn Read + Send>) -> R) -> Result<u64> {
        let payload: Box<dyn Read + Send> = Box::new(self.payload()?);
        archive::extract(wrap(payload), &self.expected(), target)
            .map_err(|e| self.name_damage(e))
            .with_context(|| format!("could not extract '{}' into '{target}'", self.path))
    }

    /// ERR, or, if the payload fails its hash, that failure (exit 3): a
    /// damaged payload can break the decoder or the tar reader before its
    /// hash is known, and must still be named as damaged. Reads the payload
    /// again only on that error path.
    fn name_damage(&self, err: anyhow::Error) -> anyhow::Error {
        if exit_code_of(&err) == ExitCode::BadBundle {
            return err;
        }
        match self.verify() {
            Err(damage) if exit_code_of(&damage) == ExitCode::BadBundle => damage,
            _ => err,
        }
    }

    /// Reads `manifest.json`, the payload's first entry, without reading the
    /// rest, and refuses it if its artifact paths leave the release or it
    /// disagrees with the header (`Manifest::check`). The payload is not
    /// verified by this (the extraction that follows verifies it before
    /// anything is committed); if the manifest cannot be read, a damaged
    /// payload is named as such (exit 3).
    pub fn manifest(&self) -> Result<Manifest> {
        self.read_manifest().map_err(|e| self.name_damage(e))
    }

    fn read_manifest(&self) -> Result<Manifest> {
        let decoder = zstd::stream::read::Decoder::new(self.payload()?).context("could not start the zstd decoder")?;
        let mut archive = tar::Archive::new(decoder);
        let mut entries = archive.entries().context("could not read the payload archive")?;
        let mut first =
            entries.next().ok_or_else(|| Failure::new(ExitCode::BadBundle, "the payload is empty"))?.context("could not read the payload archive")?;
        let path = first.path().context("unreadable entry name")?.to_string_lossy().into_owned();
        if path != manifest::FILE_NAME {
            bail!(Failure::new(ExitCode::BadBundle, format!("the payload starts with '{path}', not {}", manifest::FILE_NAME)));
        }
        let mut text = String::new();
        first.read_to_string(&mut text).context("could not read manifest.json")?;
        let manifest: Manifest = serde_json::from_str(&text).context("manifest.json is not valid")?;
        manifest.check(&self.header)?;
        Ok(manifest)
    }
}

fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    crate::error::classify(err).0
}
