//! `idlog`: the server and the operators' command line.

mod config;
mod read_side;
mod runtime;
mod work;

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
    /// Runs the workers alone (storage folders, email, SMS); with Kafka configured, several
    /// worker processes share the work.
    Worker,
    /// Brings the database schema up to date and exits.
    Migrate,
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Read models: status, rebuilds, dead letters.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Housekeeping of derived data (never the log).
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Analysts' access to the read models over SQL (PostgreSQL).
    #[command(subcommand)]
    Analysts(AnalystsCommand),
    /// Users' storage folders.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// The workers' checkpoints and dead letters.
    #[command(subcommand)]
    Workers(WorkersCommand),
}

#[derive(Debug, Subcommand)]
enum StorageCommand {
    /// Checks that every user has their folder structure and nothing else is stored; exit 1
    /// when something differs.
    Verify,
    /// Recreates what is missing (every user's, or one user's), and with `--prune` removes
    /// the folders of deleted and unknown users.
    Rebuild {
        /// Only this user.
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        /// Also remove orphans.
        #[arg(long)]
        prune: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum WorkersCommand {
    /// Each worker's position, lag and dead letters.
    Status,
    /// Events the workers gave up on, with their errors.
    DeadLetters {
        /// Resolved ones too.
        #[arg(long)]
        all: bool,
    },
    /// Tries dead letters again: one by id, or all of them.
    Retry {
        /// The dead letter's id.
        id: Option<i64>,
        /// Every unresolved one.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Each read model's position, lag and state.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replays the log into fresh tables and swaps them in (queries keep answering). With
    /// `--until`, builds a past view instead (`*_as_of` views) and leaves the live tables alone.
    Rebuild {
        /// One read model (default: all).
        name: Option<String>,
        /// Up to a log position, a time (RFC 3339) or a date (its midnight, UTC).
        #[arg(long, value_name = "POS|TIME")]
        until: Option<String>,
    },
    /// Events that kept failing, with their errors.
    DeadLetters {
        /// Resolved ones too.
        #[arg(long)]
        all: bool,
    },
    /// Lets a stopped read model try its dead-lettered event again.
    Retry {
        /// The read model.
        name: String,
    },
    /// Moves a stopped read model past its dead-lettered event, without applying it.
    Skip {
        /// The read model.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MaintenanceCommand {
    /// Deletes old rows of the activity read model; the log keeps every event.
    PruneActivity {
        /// Rows recorded longer ago than this: `90d`, `12h`, `30m`.
        #[arg(long, value_name = "SPAN")]
        older_than: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AnalystsCommand {
    /// Creates (or updates) a read-only PostgreSQL role that may read the `analytics` views.
    Grant {
        /// The role's name.
        role: String,
        /// Set its password from standard input's first line.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Bad input from the command line: a plain message and exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Asks the operator to type `answer` before something destructive, unless `yes`. Without a
/// terminal to ask on, refuses.
pub fn confirm(yes: bool, question: &str, answer: &str) -> Result<(), Usage> {
    use std::io::{IsTerminal, Write};
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Usage(format!(
            "{question} Refusing without a terminal to confirm on: pass --yes."
        )));
    }
    eprint!("{question} Type {answer:?} to go on: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|error| Usage(format!("cannot read the answer: {error}")))?;
    if line.trim() == answer {
        Ok(())
    } else {
        Err(Usage("not confirmed; nothing was changed".into()))
    }
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
            Command::Worker => runtime::work(settings).await,
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
            Command::Projections(command) => match command {
                ProjectionsCommand::Status { json } => read_side::status(&settings, json).await,
                ProjectionsCommand::Rebuild { name, until } => {
                    read_side::rebuild(&settings, name, until).await
                }
                ProjectionsCommand::DeadLetters { all } => {
                    read_side::dead_letters(&settings, all).await
                }
                ProjectionsCommand::Retry { name } => {
                    read_side::resolve(&settings, &name, false, false).await
                }
                ProjectionsCommand::Skip { name, yes } => {
                    read_side::resolve(&settings, &name, true, yes).await
                }
            },
            Command::Maintenance(MaintenanceCommand::PruneActivity { older_than, yes }) => {
                read_side::prune_activity(&settings, &older_than, yes).await
            }
            Command::Storage(StorageCommand::Verify) => work::verify(&settings).await,
            Command::Storage(StorageCommand::Rebuild { user, prune, yes }) => {
                work::rebuild(&settings, user, prune, yes).await
            }
            Command::Workers(WorkersCommand::Status) => work::status(&settings).await,
            Command::Workers(WorkersCommand::DeadLetters { all }) => {
                work::dead_letters(&settings, all).await
            }
            Command::Workers(WorkersCommand::Retry { id, all }) => {
                work::retry(&settings, id, all).await
            }
            Command::Analysts(AnalystsCommand::Grant {
                role,
                password_stdin,
            }) => match read_password(password_stdin) {
                Ok(password) => read_side::grant(&settings, &role, password).await,
                Err(error) => Err(error),
            },
        }
    });
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
