//! `idlog`: the server and the operators' command line.

mod config;
mod runtime;

use clap::{Parser, Subcommand};
use config::Settings;
use std::path::PathBuf;
use std::process::ExitCode;

/// idlog: event-sourced user management.
#[derive(Debug, Parser)]
#[command(name = "idlog", version, about)]
struct Cli {
    /// Configuration file (settings may also come from IDLOG_SECTION_KEY environment variables).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP API (by default on 127.0.0.1:8080, data in ./idlog-data).
    Serve,
    /// Brings the database schema up to date and exits.
    Migrate,
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Makes a fresh key sign access tokens; the previous one still verifies the tokens it
    /// signed until they expire (running servers pick the change up by themselves).
    RotateJwt,
}

/// Exit code for bad input (configuration, arguments); 1 is for failures while running.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let explicit = cli.config.is_some();
    let file = cli.config.unwrap_or_else(|| PathBuf::from("idlog.toml"));
    let settings = match Settings::load(&file, explicit) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    runtime::init_tracing(&settings.log.level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => runtime::serve(settings).await,
            Command::Migrate => runtime::migrate(settings).await,
            Command::Keys(KeysCommand::RotateJwt) => runtime::rotate_jwt_key(&settings),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
