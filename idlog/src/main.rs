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
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Creates a user directly through the command handlers (works while a server runs).
    Create {
        /// Email address.
        email: String,
        /// Global role (repeat for several); default `user`.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Read the password from standard input (one line); without it the user gets an
        /// invitation to set one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Makes a fresh key sign access tokens; the previous one still verifies the tokens it
    /// signed until they expire (running servers pick the change up by themselves).
    RotateJwt,
}

/// The password on standard input's first line, when asked to read it.
fn read_password(from_stdin: bool) -> anyhow::Result<Option<secrecy::SecretString>> {
    if !from_stdin {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("--password-stdin: standard input held no password");
    }
    Ok(Some(secrecy::SecretString::from(password)))
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
            Command::Users(UsersCommand::Create {
                email,
                roles,
                password_stdin,
            }) => match read_password(password_stdin) {
                Ok(password) => {
                    let roles = if roles.is_empty() {
                        vec!["user".to_owned()]
                    } else {
                        roles
                    };
                    let request = runtime::AccountRequest {
                        email,
                        roles,
                        password,
                        actor: "system:cli",
                    };
                    runtime::create_user(settings, request).await
                }
                Err(error) => Err(error),
            },
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
