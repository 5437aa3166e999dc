//! floppies: the helper inside `floppies-installer.run`, and the build tool
//! that makes it. `main.rs` and `bin/floppies-build.rs` are thin entry points.

pub mod archive;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod error;
pub mod fault;
pub mod hashing;
pub mod header;
pub mod host;
pub mod http;
pub mod journal;
pub mod lock;
pub mod manifest;
pub mod pack;
pub mod paths;
pub mod preflight;
pub mod readahead;
pub mod report;
pub mod runner;
pub mod steps;
pub mod stubenv;
