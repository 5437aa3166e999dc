use clap::Parser;
use floppies::{cli::Cli, commands, report::Reporter, stubenv};

fn main() -> std::process::ExitCode {
    stubenv::remove_stub_tmpdir();
    let cli = Cli::parse();
    let reporter = Reporter::new(cli.global.json, cli.global.quiet);
    let code = match commands::dispatch(&cli, &reporter) {
        Ok(()) => 0,
        Err(err) => reporter.error(&err) as u8,
    };
    std::process::ExitCode::from(code)
}
