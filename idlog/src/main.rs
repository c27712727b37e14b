//! `idlog`: the server and the operators' command line.

mod auditors;
mod config;
mod operators;
mod read_side;
mod runtime;
mod work;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
    /// The log, for auditors: tail, export, history, verification, signed checkpoints.
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// The latest events (personal data opened), and with `--follow` new ones as they come.
    Tail {
        /// Keep printing new events until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
        /// How many of the latest events to print first.
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
        /// Only this stream (a user's id, for instance).
        #[arg(long, value_name = "ID")]
        stream: Option<String>,
        /// Only this event type.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
    },
    /// Writes the log as stored (what the hash chain covers) to a file, streamed.
    Export {
        /// From a log position, or a time (RFC 3339) or date.
        #[arg(long, value_name = "POS|TIME")]
        from: Option<String>,
        /// Up to a log position, or a time or date.
        #[arg(long, value_name = "POS|TIME")]
        to: Option<String>,
        /// Only this stream (a partial export: its links cannot be checked).
        #[arg(long, value_name = "ID")]
        stream: Option<String>,
        /// Only this event type (a partial export).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// The format.
        #[arg(long, value_enum, default_value = "ndjson")]
        format: ExportFormatArg,
        /// The file to write.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Overwrite an existing file without asking.
        #[arg(long)]
        yes: bool,
    },
    /// A user's events with actor, ip and hashes.
    History {
        /// Email address or user id.
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checks the hash chain in the database (exit 0 and the head hash, or 1 and the first
    /// broken position); with `--export`, checks an export file instead, with no database.
    Verify {
        /// First position (database).
        #[arg(long, value_name = "POS", conflicts_with = "export")]
        from: Option<u64>,
        /// Last position (database).
        #[arg(long, value_name = "POS", conflicts_with = "export")]
        to: Option<u64>,
        /// An export file (NDJSON or CSV) to verify offline.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// A signed checkpoint (JSON, from `idlog events checkpoint -o` or
        /// `GET /api/v1/audit/checkpoints`): proves the export complete up to it.
        #[arg(long, value_name = "FILE", requires = "export")]
        checkpoint: Option<PathBuf>,
        /// The trusted public key: 64 hex digits, or a file holding them.
        #[arg(long, value_name = "KEY", requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Signs the log's head (position, hash, time) with the checkpoint key and appends the
    /// checkpoint to the log.
    Checkpoint {
        /// Also write the checkpoint to this file.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Export formats, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormatArg {
    /// One JSON event per line.
    Ndjson,
    /// Comma-separated with a header.
    Csv,
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
    /// Drops expired email verification, phone and password reset tokens from every user.
    CleanupTokens,
    /// Records the end of sessions that are past their idle timeout or lifetime.
    ExpireSessions,
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
    /// Lists users from the read model (brought up to date first).
    List {
        /// Holding this global role.
        #[arg(long)]
        role: Option<String>,
        /// `active`, `inactive`, `locked`, `deleted` or `forgotten` (default: all but deleted
        /// and forgotten).
        #[arg(long)]
        status: Option<String>,
        /// Members of this organization.
        #[arg(long, value_name = "ID")]
        org: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: operators::ListFormat,
    },
    /// Creates a user directly through the command handlers (works while a server runs); the
    /// workers create their storage folders.
    Create {
        /// Email address.
        email: String,
        /// Global role (repeat for several); default `user`.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// The password (visible to other local users in the process list: prefer
        /// --password-stdin).
        #[arg(long, conflicts_with_all = ["password_stdin", "invite"])]
        password: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long, conflicts_with = "invite")]
        password_stdin: bool,
        /// No password: send an invitation to set one (also the default without a password).
        #[arg(long)]
        invite: bool,
        /// Add the user to this organization.
        #[arg(long, value_name = "ID", requires = "org_role")]
        org: Option<String>,
        /// Their role there: org_admin, member or readonly.
        #[arg(long, value_name = "ROLE", requires = "org")]
        org_role: Option<String>,
    },
    /// Deletes a user (their folders are removed by the workers; the log keeps the history).
    Delete {
        /// Email address or user id.
        user: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Forgets a user for good (right to erasure): ends their sessions, frees their email,
    /// username and phone, and destroys their data key, so their personal data reads back as
    /// erased everywhere (the log keeps the events and verifies). Asks first unless `--yes`.
    Forget {
        /// Email address or user id.
        user: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Everything held about a user as one JSON document (right of access): account, profile,
    /// organizations, sessions, activity, and their events decrypted.
    Export {
        /// Email address or user id.
        user: String,
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        /// Overwrite the file without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Deletes every user, one command each; asks for the number of users unless `--yes`.
    ClearAll {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Locks an account (ends its sessions).
    Lock {
        /// Email address or user id.
        user: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Until this time (RFC 3339); default until unlocked.
        #[arg(long, value_name = "TIME")]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Lifts a lock.
    Unlock {
        /// Email address or user id.
        user: String,
    },
    /// Lifts every lock in force.
    UnlockAll,
    /// Turns an account off (ends its sessions).
    Deactivate {
        /// Email address or user id.
        user: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Turns a deactivated account back on.
    Reactivate {
        /// Email address or user id.
        user: String,
    },
    /// Sends the user a password reset link.
    ResetPassword {
        /// Email address or user id.
        user: String,
    },
    /// The user folded from the log: now, or as of a time or position.
    Show {
        /// Email address or user id (a deleted user's email is free again: use the id).
        user: String,
        /// As of this time (RFC 3339) or date.
        #[arg(long, value_name = "TIME", conflicts_with = "at_position")]
        as_of: Option<String>,
        /// As of this log position.
        #[arg(long, value_name = "N")]
        at_position: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Makes a fresh key sign access tokens; the previous one still verifies the tokens it
    /// signed until they expire (running servers pick the change up by themselves).
    RotateJwt,
    /// Prints the public half of the checkpoint signing key, for auditors.
    CheckpointPublic,
    /// Replaces the data folder's master key: every person's data key is re-wrapped under a
    /// new one (the log is not touched). Stop the servers first.
    RotateMaster,
    /// Re-wraps every data key under `security.master_key`, unwrapping with
    /// `security.previous_master_keys` (after changing a configured master key).
    Rewrap,
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

/// `idlog users ...`.
async fn users(settings: &Settings, command: UsersCommand) -> anyhow::Result<()> {
    use operators::Lifecycle;
    match command {
        UsersCommand::List {
            role,
            status,
            org,
            format,
        } => operators::list(settings, role, status, org, format).await,
        UsersCommand::Create {
            email,
            roles,
            password,
            password_stdin,
            invite: _,
            org,
            org_role,
        } => {
            let password = match password {
                Some(password) => Some(secrecy::SecretString::from(password)),
                None => read_password(password_stdin)?,
            };
            let roles = if roles.is_empty() {
                vec!["user".to_owned()]
            } else {
                roles
            };
            let request = operators::CreateRequest {
                account: runtime::AccountRequest {
                    email,
                    roles,
                    password,
                    actor: operators::cli_actor(),
                },
                organization: org.zip(org_role),
            };
            operators::create(settings, request).await
        }
        UsersCommand::Delete { user, yes } => {
            operators::lifecycle(settings, &user, Lifecycle::Delete { yes }).await
        }
        UsersCommand::ClearAll { yes } => operators::clear_all(settings, yes).await,
        UsersCommand::Forget { user, yes } => operators::forget(settings, &user, yes).await,
        UsersCommand::Export { user, output, yes } => {
            operators::export(settings, &user, output.as_deref(), yes).await
        }
        UsersCommand::Lock {
            user,
            reason,
            until,
        } => operators::lifecycle(settings, &user, Lifecycle::Lock { reason, until }).await,
        UsersCommand::Unlock { user } => {
            operators::lifecycle(settings, &user, Lifecycle::Unlock).await
        }
        UsersCommand::UnlockAll => operators::unlock_all(settings).await,
        UsersCommand::Deactivate { user, reason } => {
            operators::lifecycle(settings, &user, Lifecycle::Deactivate { reason }).await
        }
        UsersCommand::Reactivate { user } => {
            operators::lifecycle(settings, &user, Lifecycle::Reactivate).await
        }
        UsersCommand::ResetPassword { user } => {
            operators::lifecycle(settings, &user, Lifecycle::ResetPassword).await
        }
        UsersCommand::Show {
            user,
            as_of,
            at_position,
        } => operators::show(settings, &user, as_of, at_position).await,
    }
}

/// `idlog events ...`.
async fn events(settings: &Settings, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Tail {
            follow,
            lines,
            stream,
            event_type,
            json,
        } => {
            let request = auditors::TailRequest {
                follow,
                lines,
                stream,
                event_type,
                json,
            };
            auditors::tail(settings, request).await
        }
        EventsCommand::Export {
            from,
            to,
            stream,
            event_type,
            format,
            output,
            yes,
        } => {
            let format = match format {
                ExportFormatArg::Ndjson => audit::ExportFormat::Ndjson,
                ExportFormatArg::Csv => audit::ExportFormat::Csv,
            };
            let request = auditors::ExportRequest {
                from,
                to,
                stream,
                event_type,
                format,
                output,
                yes,
            };
            auditors::export(settings, request).await
        }
        EventsCommand::History { user, json } => auditors::history(settings, &user, json).await,
        EventsCommand::Verify {
            export: Some(export),
            checkpoint,
            public_key,
            ..
        } => auditors::verify_export(&export, checkpoint.as_deref(), public_key.as_deref()),
        EventsCommand::Verify {
            from,
            to,
            export: None,
            ..
        } => auditors::verify_database(settings, from, to).await,
        EventsCommand::Checkpoint { output } => auditors::checkpoint(settings, output).await,
    }
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
            Command::Keys(KeysCommand::CheckpointPublic) => {
                auditors::checkpoint_public_key(&settings).await
            }
            Command::Keys(KeysCommand::RotateMaster) => runtime::rotate_master_key(&settings).await,
            Command::Keys(KeysCommand::Rewrap) => runtime::rewrap_data_keys(&settings).await,
            Command::Users(command) => users(&settings, command).await,
            Command::Events(command) => events(&settings, command).await,
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
            Command::Maintenance(MaintenanceCommand::CleanupTokens) => {
                operators::cleanup_tokens(&settings).await
            }
            Command::Maintenance(MaintenanceCommand::ExpireSessions) => {
                operators::expire_sessions(&settings).await
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
