//! floppies-format: what both sides of a `.run` file agree on. The header the
//! stub and the helper read, the manifest (the payload's first entry), the
//! verified streaming extraction, hashing, the read-ahead reader, the ELF
//! level reader, and the exit codes the stub, the helper and the docs share.
//! The build tool writes these; the shipped helper reads them.

pub mod archive;
pub mod bundle;
pub mod delta;
pub mod elf;
pub mod error;
pub mod hashing;
pub mod header;
pub mod manifest;
pub mod readahead;
pub mod time;
