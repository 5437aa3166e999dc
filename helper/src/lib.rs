//! floppies: the helper inside `floppies-installer.run`, the one binary that
//! runs on a customer's host. The file format it reads is `floppies-format`;
//! the build tool that writes it is `floppies-build` (build/floppies-build).

pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod fault;
pub mod files;
pub mod host;
pub mod http;
pub mod joinfile;
pub mod journal;
pub mod killall;
pub mod kube;
pub mod layout;
pub mod lock;
pub mod preflight;
pub mod rebase;
pub mod report;
pub mod runner;
pub mod shim_state;
pub mod steps;
pub mod stubenv;
#[cfg(test)]
mod test_bundle;
pub mod tls;
