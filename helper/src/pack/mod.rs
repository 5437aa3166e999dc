//! Build-time: turns an artifact set (airgap/*.json) into a deterministic
//! `payload.tar.zst` with `manifest.json` first, and assembles `.run` files.
//! Used by `floppies-build`; nothing here runs on a customer's host.

pub mod assemble;
pub mod content;
pub mod fetch;
pub mod isa;
pub mod oci;
pub mod provenance;
pub mod registry;
pub mod sbom;
pub mod spec;
pub mod tarball;
