//! `idlog`: the server and the operators' command line. The command line is in [`cli`]; what it
//! runs is the `idlog` library's.

mod cli;

use clap::Parser;
use idlog::Usage;
use idlog::config::Settings;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad input (configuration, arguments); 1 is for failures while running.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let explicit = cli.config.is_some();
    let file = cli.config.unwrap_or_else(|| PathBuf::from("idlog.toml"));
    let settings = match Settings::load(&file, explicit) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    idlog::server::init_tracing(&settings.log.level, settings.log.format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::run(settings, cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<Usage>() => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
