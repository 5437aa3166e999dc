//! Build-time tool (never shipped): makes stand-ins, packs payloads, assembles `.run` files.

use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use clap::{Parser, Subcommand};
use floppies_build::{assemble, content, fetch, image, oci, provenance, sbom, spec, update};

/// Builds floppies installer files.
#[derive(Parser)]
#[command(name = "floppies-build", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pack an artifact set into payload.tar.zst (manifest.json first, deterministic)
    Pack {
        /// The artifact set (airgap/PROFILE.json)
        #[arg(long)]
        set: Utf8PathBuf,
        /// Directory the set's `from` paths are relative to
        #[arg(long, default_value = ".")]
        base: Utf8PathBuf,
        /// Where the generated inputs (`from` under `out/`) are (default: BASE/out)
        #[arg(long)]
        scratch: Option<Utf8PathBuf>,
        /// How fetch pinned the upstream inputs (its provenance.json; required for prod)
        #[arg(long)]
        provenance: Option<Utf8PathBuf>,
        #[arg(long)]
        version: String,
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// zstd level
        #[arg(long, default_value_t = 12)]
        level: i32,
        #[arg(long)]
        out: Utf8PathBuf,
    },
    /// Concatenate stub, helper and payload into a .run file
    Assemble {
        #[arg(long)]
        stub: Utf8PathBuf,
        #[arg(long)]
        helper: Utf8PathBuf,
        #[arg(long)]
        payload: Utf8PathBuf,
        #[arg(long)]
        version: String,
        #[arg(long)]
        profile: String,
        #[arg(long, default_value = "x86_64")]
        arch: String,
        #[arg(long)]
        out: Utf8PathBuf,
    },
    /// Write an update file: NEW's release carrying only what changed since
    /// BASE (both full installer files); named floppies-installer-NEW-from-BASE.run
    Update {
        /// The full installer file of the release on the customer's host
        #[arg(long)]
        base: Utf8PathBuf,
        /// The full installer file of the new release
        #[arg(long)]
        new: Utf8PathBuf,
        #[arg(long)]
        stub: Utf8PathBuf,
        /// Where the base installed its helper, which the update file runs
        /// when NEW's helper is the same (tests point it elsewhere)
        #[arg(long, default_value = floppies_format::header::INSTALLED_HELPER)]
        helper_from: String,
        /// Scratch directory (emptied first)
        #[arg(long)]
        scratch: Utf8PathBuf,
        /// zstd level
        #[arg(long, default_value_t = 12)]
        level: i32,
        /// The directory the update file is written to
        #[arg(long)]
        out_dir: Utf8PathBuf,
    },
    /// Rebuild the full release an update file describes from the base's
    /// unpacked payload, checking every artifact's sha256 (what install does)
    Replay {
        #[arg(long)]
        update: Utf8PathBuf,
        /// The base's payload, unpacked (--extract)
        #[arg(long)]
        base_dir: Utf8PathBuf,
        #[arg(long)]
        out: Utf8PathBuf,
    },
    /// Write an OCI image archive of small stand-in images for the test profile
    StandinImages {
        /// An image name containerd will import (repeatable)
        #[arg(long)]
        reference: Vec<String>,
        /// Also every image listed in this pins file
        #[arg(long)]
        pins: Option<Utf8PathBuf>,
        /// Written into each image's own layer, so that builds of two
        /// versions differ in those layers as real releases do
        #[arg(long)]
        stamp: Option<String>,
        #[arg(long)]
        out: Utf8PathBuf,
    },
    /// Write one single-platform OCI image archive from a JSON spec (names,
    /// files with modes, entrypoint, user, env, os/architecture); deterministic
    Image {
        /// The image spec (see build/floppies-build/src/image.rs)
        #[arg(long)]
        spec: Utf8PathBuf,
        /// Directory the spec's `from` paths are relative to
        #[arg(long, default_value = ".")]
        base: Utf8PathBuf,
        #[arg(long)]
        out: Utf8PathBuf,
    },
    /// Gather the pinned upstream artifacts into the cache (verifying each)
    /// and lay them out for the prod artifact set
    Fetch {
        #[arg(long)]
        pins: Utf8PathBuf,
        #[arg(long, env = "FLOPPIES_CACHE")]
        cache: Utf8PathBuf,
        /// Use the cache alone; name every missing item
        #[arg(long)]
        offline: bool,
        /// Refuse any item whose sha256 or digest is null instead of resolving it now
        #[arg(long)]
        strict: bool,
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// Write k3s, k3s-airgap-images.tar.zst and app-images.tar here
        #[arg(long)]
        out: Option<Utf8PathBuf>,
    },
    /// Resolve image tags to digests and k3s assets to their release sums, and
    /// write them into the pins file (review the diff before committing)
    Pin {
        #[arg(long)]
        pins: Utf8PathBuf,
    },
    /// Write an SPDX 2.3 JSON bill of materials of a built .run file (its
    /// artifacts and images, each with sha256, source and how it was pinned)
    Sbom {
        #[arg(long)]
        run: Utf8PathBuf,
        #[arg(long)]
        out: Utf8PathBuf,
    },
    /// Write the default content into a directory: an animated floppy-disk GIF and an index.html that shows it
    Content {
        #[arg(long)]
        out: Utf8PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", floppies_format::error::render(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Pack { set, base, scratch, provenance, version, arch, level, out } => {
            let mut s = spec::ArtifactSet::load(&set)?;
            if let Some(scratch) = scratch {
                s = s.with_scratch_dir(&scratch);
            }
            if let Some(p) = provenance {
                s = s.with_provenance(provenance::Provenance::load(&p)?);
            }
            let m = spec::pack(&s, &base, &version, &arch, level, &out).with_context(|| format!("could not pack '{set}'"))?;
            eprintln!("packed {} artifacts into {out}", m.artifacts.len());
        }
        Command::Assemble { stub, helper, payload, version, profile, arch, out } => {
            let parts = assemble::Parts {
                stub_template: &stub,
                helper: &helper,
                helper_part: assemble::HelperPart::Raw,
                payload: &payload,
                version: &version,
                profile: &profile,
                arch: &arch,
                base_version: "",
            };
            let h = assemble::assemble(&parts, &out).with_context(|| format!("could not assemble '{out}'"))?;
            eprintln!("wrote {out}: stub {} + helper {} + payload {} bytes", h.stub_size, h.helper_size, h.payload_size);
        }
        Command::Update { base, new, stub, helper_from, scratch, level, out_dir } => {
            let w = update::write(&base, &new, &stub, &scratch, level, &out_dir, &helper_from)
                .with_context(|| format!("could not make an update from '{base}' to '{new}'"))?;
            let (m, h) = (&w.summary.manifest, &w.header);
            let from = &h.base_version;
            let carried = m.artifacts.iter().filter(|a| !matches!(a.origin, Some(floppies_format::manifest::Origin::Base { .. }))).count();
            let helper = match h.helper_form {
                floppies_format::header::HelperForm::Host => format!("its helper is the base's, not carried (taken from {} on the host)", h.helper_from),
                _ => format!("its helper changed and is carried gzip'd ({} bytes)", h.helper_size),
            };
            eprintln!(
                "wrote {}: an update from {from} to {}, {} bytes (payload {}); carries {carried} of {} artifacts, {} of their {} bytes; {helper}",
                w.path,
                m.bundle.version,
                h.total_size(),
                h.payload_size,
                m.artifacts.len(),
                w.summary.carried_bytes,
                w.summary.full_bytes
            );
            println!("{}", w.path);
        }
        Command::Replay { update, base_dir, out } => {
            update::replay(&update, &base_dir, &out).with_context(|| format!("could not rebuild the release of '{update}'"))?;
            eprintln!("rebuilt the release of {update} into {out}; every artifact has its manifest's sha256");
        }
        Command::StandinImages { reference, pins, stamp, out } => {
            let mut images: Vec<(String, u8)> = reference.into_iter().map(|r| (r, 1)).collect();
            if let Some(pins) = pins {
                images.extend(oci::pinned_standins(&pins)?);
            }
            images.sort();
            images.dedup_by(|a, b| a.0 == b.0);
            oci::standin_stamped(&images, stamp.as_deref(), &out)?;
        }
        Command::Image { spec, base, out } => {
            let s = image::Spec::load(&spec)?;
            let d = image::build(&s, &base, &out).with_context(|| format!("could not build the image of '{spec}'"))?;
            println!("{d}");
        }
        Command::Fetch { pins, cache, offline, strict, arch, out } => {
            let opts = fetch::Options { pins: &pins, cache: &cache, arch: &arch, offline, strict, out: out.as_deref() };
            let g = fetch::fetch(&opts)?;
            let pins = g.provenance.artifacts.iter().map(|a| &a.pinned).chain(g.provenance.images.iter().map(|i| &i.pinned));
            let resolved = pins.filter(|p| p.starts_with("resolved")).count();
            eprintln!("all artifacts for {arch} are in {cache}: k3s, its air-gap images and {} app images ({resolved} resolved at build time)", g.images.len());
        }
        Command::Pin { pins } => fetch::pin(&pins)?,
        Command::Sbom { run, out } => sbom::write(&run, &sbom::creation_time()?, &out)?,
        Command::Content { out } => content::default_content(&out)?,
    }
    Ok(())
}
