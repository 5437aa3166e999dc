//! One module per subcommand, each with one entry point.

pub mod confirm;
mod debug;
mod diagnose;
mod install;
mod join;
mod node;
mod preflight;
mod status;
mod uninstall;
mod version;

use anyhow::Result;

use crate::cli::{Cli, Command, Global};
use crate::layout::Layout;
use crate::report::Reporter;

/// What every command gets: the global options, the reporter, the host layout.
pub struct Ctx<'a> {
    pub global: &'a Global,
    pub out: &'a Reporter,
    pub layout: &'a Layout,
}

pub fn dispatch(cli: &Cli, out: &Reporter) -> Result<()> {
    let layout = Layout::choose(cli.global.bundle.as_deref(), &|w| out.warn(w));
    let ctx = Ctx { global: &cli.global, out, layout: &layout };
    match &cli.command {
        Command::Install(args) => install::run(&ctx, args),
        Command::Uninstall(args) => uninstall::run(&ctx, args),
        Command::Status => status::run(&ctx),
        Command::Diagnose(args) => diagnose::run(&ctx, args),
        Command::Preflight => preflight::run(&ctx),
        Command::Join(args) => join::run(&ctx, args),
        Command::Node(cmd) => node::run(&ctx, cmd),
        Command::Version => version::run(&ctx),
        Command::Debug(cmd) => debug::run(&ctx, cmd),
    }
}
