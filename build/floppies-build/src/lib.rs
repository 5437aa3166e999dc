//! floppies-build: turns an artifact set (airgap/*.json) into a deterministic
//! `payload.tar.zst` with `manifest.json` first, and assembles `.run` files.
//! Nothing here runs on a customer's host; the shipped helper (`floppies`)
//! does not depend on this crate, so it links none of its HTTP, TLS-root or
//! image code (tests/lint checks that).

pub mod assemble;
pub mod content;
pub mod fetch;
pub mod image;
pub mod isa;
pub mod oci;
pub mod provenance;
pub mod registry;
pub mod sbom;
pub mod spec;
pub mod tarball;
pub mod update;
