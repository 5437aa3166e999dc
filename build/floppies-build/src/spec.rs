//! The artifact set a profile is built from, and packing it into a payload.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use std::fs;

use super::provenance::Provenance;
use super::{isa, oci, tarball};
use floppies_format::hashing::sha256_of;
use floppies_format::manifest::{self, Artifact, BundleInfo, Image, K3sInfo, Manifest, Role};

/// `airgap/<profile>.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSet {
    pub name: String,
    pub profile: String,
    pub k3s_version: String,
    pub artifacts: Vec<Input>,
    /// How fetch pinned the upstream inputs (a production build must have it).
    #[serde(skip)]
    pub provenance: Option<Provenance>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Path inside the payload.
    pub path: String,
    pub role: Role,
    /// File or directory to take it from, relative to the set's base dir; a
    /// path under `out/` is a generated input, found in the build's scratch
    /// dir (see `with_scratch_dir`).
    pub from: Utf8PathBuf,
    /// Recorded in the manifest: upstream URL or image ref, or `stand-in: ...`.
    pub source: String,
    #[serde(default)]
    pub executable: bool,
    /// `tgz`: pack the `from` directory as a Helm chart archive at `path`.
    #[serde(default)]
    pub package: Option<String>,
}

impl ArtifactSet {
    pub fn load(path: &Utf8Path) -> Result<ArtifactSet> {
        let text = fs::read_to_string(path).with_context(|| format!("could not read '{path}'"))?;
        let set: ArtifactSet = serde_json::from_str(&text).with_context(|| format!("'{path}' is not a valid artifact set"))?;
        if set.profile == "test" && set.artifacts.iter().any(|a| a.role == Role::K3sBinary && !a.source.starts_with("stand-in")) {
            bail!("'{path}': a test profile's k3s must be a stand-in and say so in its source");
        }
        if set.profile == "prod" && set.artifacts.iter().any(|a| a.source.contains("stand-in")) {
            bail!("'{path}': a production artifact set must not contain stand-ins");
        }
        Ok(set)
    }

    /// Takes the generated inputs (`from` under `out/`) from SCRATCH instead,
    /// so a build with its own scratch dir packs what it made itself.
    pub fn with_scratch_dir(mut self, scratch: &Utf8Path) -> ArtifactSet {
        for input in &mut self.artifacts {
            if let Ok(rest) = input.from.strip_prefix("out") {
                input.from = scratch.join(rest);
            }
        }
        self
    }

    /// Records in the manifest how fetch pinned each upstream input.
    pub fn with_provenance(mut self, provenance: Provenance) -> ArtifactSet {
        self.provenance = Some(provenance);
        self
    }
}

/// Packs the set into `out` and returns the manifest written into it.
pub fn pack(set: &ArtifactSet, base: &Utf8Path, version: &str, arch: &str, level: i32, out: &Utf8Path) -> Result<Manifest> {
    if set.profile == "prod" && set.provenance.is_none() {
        bail!("a production payload records how each upstream artifact was pinned: pass fetch's {} (--provenance)", super::provenance::FILE_NAME);
    }
    let mut files: Vec<tarball::FileEntry> = Vec::new();
    let mut artifacts = Vec::new();
    for input in &set.artifacts {
        let mut from = base.join(&input.from);
        let meta = fs::metadata(&from).with_context(|| format!("artifact '{}' is missing: '{from}'", input.path))?;
        if let Some(kind) = &input.package {
            if kind != "tgz" || !meta.is_dir() {
                bail!("artifact '{}': only a directory can be packaged, and only as 'tgz'", input.path);
            }
            let tgz = out.with_file_name(format!("{}.tgz", from.file_name().unwrap_or("chart")));
            tarball::chart_tgz(&from, &walk(&from)?, &tgz)?;
            from = tgz;
            artifacts.push(describe(&from, &input.path, input, arch, set.provenance.as_ref())?);
            files.push(tarball::FileEntry { path: input.path.clone(), source: from, executable: false });
        } else if meta.is_dir() {
            for (rel, file) in walk(&from)? {
                let path = format!("{}/{rel}", input.path.trim_end_matches('/'));
                artifacts.push(describe(&file, &path, input, arch, set.provenance.as_ref())?);
                files.push(tarball::FileEntry { path, source: file, executable: input.executable });
            }
        } else {
            artifacts.push(describe(&from, &input.path, input, arch, set.provenance.as_ref())?);
            files.push(tarball::FileEntry { path: input.path.clone(), source: from, executable: input.executable });
        }
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        schema: manifest::SCHEMA,
        bundle: BundleInfo { name: set.name.clone(), version: version.to_string(), profile: set.profile.clone(), arch: arch.to_string() },
        k3s: K3sInfo { version: set.k3s_version.clone() },
        artifacts,
        base: None,
    };
    let json = serde_json::to_vec_pretty(&manifest).context("bug: manifest not serialisable")?;
    tarball::write(out, &json, &mut files, level)?;
    Ok(manifest)
}

fn describe(file: &Utf8Path, path: &str, input: &Input, arch: &str, provenance: Option<&Provenance>) -> Result<Artifact> {
    let f = fs::File::open(file).with_context(|| format!("could not open '{file}'"))?;
    let (sha256, size) = sha256_of(f).with_context(|| format!("could not read '{file}'"))?;
    let mut images = match input.role {
        Role::K3sImages | Role::AppImages => with_levels(file, oci::image_names(file)?, arch)?,
        _ => Vec::new(),
    };
    let pinned = match provenance {
        Some(p) => pinned(p, input.role, &sha256, &mut images).with_context(|| format!("artifact '{path}' ('{file}')"))?,
        None => None,
    };
    Ok(Artifact { path: path.to_string(), role: input.role, size, sha256, source: input.source.clone(), pinned, images, origin: None })
}

/// How fetch pinned the k3s files (checked to be the very bytes it gathered)
/// and each app image; the app archive as a whole says "pinned in FILE" only
/// if every image in it is.
fn pinned(p: &Provenance, role: Role, sha256: &str, images: &mut [manifest::Image]) -> Result<Option<String>> {
    match role {
        Role::K3sBinary | Role::K3sImages => {
            let pin = p.artifact(role).context("fetch's provenance does not name it")?;
            if pin.sha256 != sha256 {
                bail!("its sha256 is {sha256}, but fetch gathered {}: run the build again", pin.sha256);
            }
            Ok(Some(pin.pinned.clone()))
        }
        Role::AppImages => {
            for image in images.iter_mut() {
                let pin = p.image(&image.digest).with_context(|| format!("fetch's provenance does not name {}", image.digest))?;
                image.pinned = Some(pin.pinned.clone());
            }
            let resolved = p.images.iter().filter(|i| !i.pinned.starts_with("pinned in ")).count();
            Ok(Some(match resolved {
                // `pinned in FILE`, without a mirror's `; fetched from URL`
                0 => p.images.first().map_or("no images", |i| i.pinned.split(';').next().unwrap_or_default()).to_string(),
                n => format!("{n} of {} images resolved at build time (each image says how)", p.images.len()),
            }))
        }
        Role::Chart | Role::Content => Ok(None),
    }
}

/// Records the x86-64 level each image's binaries need (x86-64 bundles only).
fn with_levels(file: &Utf8Path, mut images: Vec<Image>, arch: &str) -> Result<Vec<Image>> {
    if arch != "x86_64" {
        return Ok(images);
    }
    let levels = isa::archive_levels(file, arch).with_context(|| format!("could not derive the CPU level of the images in '{file}'"))?;
    for image in &mut images {
        image.x86_64_level = Some(levels.get(&image.digest).copied().flatten().unwrap_or(1));
    }
    Ok(images)
}

/// Regular files below `dir`, sorted, as (relative path, full path).
fn walk(dir: &Utf8Path) -> Result<Vec<(String, Utf8PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("could not read '{d}'"))? {
            let entry = entry.with_context(|| format!("could not read '{d}'"))?;
            let path = Utf8PathBuf::from_path_buf(entry.path()).map_err(|p| anyhow::anyhow!("non-UTF-8 path {}", p.display()))?;
            let kind = entry.file_type().with_context(|| format!("could not stat '{path}'"))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).expect("bug: walked outside the dir").to_string();
                out.push((rel, path));
            } else {
                bail!("'{path}' is neither a file nor a directory; payloads hold only those");
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_inputs_come_from_the_scratch_dir_and_sources_stay() {
        let set: ArtifactSet = serde_json::from_value(serde_json::json!({
            "name": "floppies", "profile": "test", "k3s_version": "stand-in",
            "artifacts": [
                {"path": "content", "role": "content", "from": "out/test/content", "source": "test"},
                {"path": "charts/floppies.tgz", "role": "chart", "from": "charts/floppies", "source": "test", "package": "tgz"},
                {"path": "k3s/k3s", "role": "k3s-binary", "from": "outside/k3s", "source": "stand-in: test"}
            ]
        }))
        .unwrap();
        let set = set.with_scratch_dir(Utf8Path::new("/scratch/two"));
        let from: Vec<&str> = set.artifacts.iter().map(|a| a.from.as_str()).collect();
        assert_eq!(from, ["/scratch/two/test/content", "charts/floppies", "outside/k3s"]);
        // An absolute scratch path wins over the base in pack's base.join(from).
        assert_eq!(Utf8Path::new("/repo").join(&set.artifacts[0].from), "/scratch/two/test/content");
    }
}
