//! The command line: one module per top-level subcommand, named after it (`idlog users ...` in
//! [`users`], `idlog events ...` in [`events`], ...), over the [`Operator`](operator::Operator)
//! they run commands with, and what they share: the clap definitions' top level, asking for
//! confirmation, a password on standard input, progress bars, the actor the command line
//! records, naming a user, and writing a file whole.

mod analysts;
mod email;
mod events;
mod ip_blocks;
mod keys;
mod maintenance;
mod operator;
mod organizations;
mod partners;
mod projections;
mod roles;
mod storage;
mod users;
mod wallets;
mod workers;

use anyhow::Context;
use application::RequestContext;
use clap::{Parser, Subcommand};
use commands::CommandHandler;
use domain::values::Email;
use domain::{ClaimKind, UserId};
use eventstore::{Actor, ActorKind, EventMetadata};
use idlog::Usage;
use idlog::config::Settings;
use idlog::server;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};

/// idlog: event-sourced user management.
#[derive(Debug, Parser)]
#[command(name = "idlog", version, about)]
pub struct Cli {
    /// Configuration file (settings may also come from IDLOG_SECTION_KEY environment variables).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `idlog ...`: the top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the HTTP API (by default on 127.0.0.1:8080, data in ./idlog-data).
    Serve,
    /// Runs the workers alone (storage folders, email, SMS); with Kafka configured, several
    /// worker processes share the work.
    Worker,
    /// Brings the database schema up to date and exits.
    Migrate,
    /// Signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Organizations and their partner details.
    #[command(subcommand)]
    Organizations(organizations::OrganizationsCommand),
    /// Partners' file transfers and transactions, their figures, and the catalog of actions.
    #[command(subcommand)]
    Partners(partners::PartnersCommand),
    /// Users' wallets: balances, history, credits and debits.
    #[command(subcommand)]
    Wallets(wallets::WalletsCommand),
    /// The addresses and ranges blocked from signing up, signing in and resetting passwords.
    #[command(subcommand)]
    IpBlocks(ip_blocks::IpBlocksCommand),
    /// The catalog of global roles and their profile fields; role holders' profiles.
    #[command(subcommand)]
    Roles(roles::RolesCommand),
    /// Read models: status, rebuilds, dead letters.
    #[command(subcommand)]
    Projections(projections::ProjectionsCommand),
    /// Housekeeping of derived data (never the log).
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
    /// Analysts' access to the read models over SQL (PostgreSQL).
    #[command(subcommand)]
    Analysts(analysts::AnalystsCommand),
    /// Users' storage folders.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// The email settings: send a test message.
    #[command(subcommand)]
    Email(email::EmailCommand),
    /// The workers' checkpoints and dead letters.
    #[command(subcommand)]
    Workers(workers::WorkersCommand),
    /// The log, for auditors: tail, export, history, verification, signed checkpoints.
    #[command(subcommand)]
    Events(events::EventsCommand),
}

/// Runs `command` with `settings`.
pub async fn run(settings: Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => server::serve(settings).await,
        Command::Worker => server::work(settings).await,
        Command::Migrate => server::migrate(settings).await,
        Command::Keys(command) => keys::run(&settings, command).await,
        Command::Users(command) => users::run(&settings, command).await,
        Command::Organizations(command) => organizations::run(&settings, command).await,
        Command::Partners(command) => partners::run(&settings, command).await,
        Command::Wallets(command) => wallets::run(&settings, command).await,
        Command::IpBlocks(command) => ip_blocks::run(&settings, command).await,
        Command::Roles(command) => roles::run(&settings, command).await,
        Command::Events(command) => events::run(&settings, command).await,
        Command::Projections(command) => projections::run(&settings, command).await,
        Command::Maintenance(command) => maintenance::run(&settings, command).await,
        Command::Storage(command) => storage::run(&settings, command).await,
        Command::Email(command) => email::run(&settings, command).await,
        Command::Workers(command) => workers::run(&settings, command).await,
        Command::Analysts(command) => analysts::run(&settings, command).await,
    }
}

/// `at`, or the time `span` from now (which `option` gave), if either: a span too far ahead to
/// be a time is the caller's error.
pub fn at_or_from_now(
    at: Option<chrono::DateTime<chrono::Utc>>,
    span: Option<chrono::TimeDelta>,
    option: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Usage> {
    match (at, span) {
        (Some(at), _) => Ok(Some(at)),
        (None, Some(span)) => chrono::Utc::now()
            .checked_add_signed(span)
            .map(Some)
            .ok_or_else(|| Usage(format!("{option}: too far ahead"))),
        (None, None) => Ok(None),
    }
}

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

/// The password on standard input's first line, when asked to read it.
pub fn read_password(from_stdin: bool) -> anyhow::Result<Option<secrecy::SecretString>> {
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

/// A progress bar on standard error (hidden when it is not a terminal).
pub fn progress_bar(length: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// The actor the command line records: `system:cli:<os user>`.
pub fn cli_actor() -> Actor {
    Actor {
        kind: ActorKind::System,
        id: Some(format!("system:cli:{}", operator_name())),
    }
}

/// Who runs the command line: `USER` or `LOGNAME` as a login shell sets them, else (containers,
/// cron) the account of the process's user id, else that id itself.
fn operator_name() -> String {
    use std::os::unix::fs::MetadataExt;
    ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|name| !name.trim().is_empty())
        .or_else(|| whoami::fallible::username().ok())
        // `/proc/self` belongs to the process's effective user.
        .or_else(|| {
            std::fs::metadata("/proc/self")
                .ok()
                .map(|process| format!("uid-{}", process.uid()))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Event metadata for what the operator does.
pub fn cli_metadata() -> EventMetadata {
    RequestContext::default().metadata(cli_actor())
}

/// The user named by an id or an email address (a deleted user's address is free again, so
/// only their id names them).
#[tracing::instrument(skip_all)]
pub async fn resolve_user(commands: &CommandHandler, user: &str) -> anyhow::Result<UserId> {
    if let Ok(id) = user.parse::<UserId>() {
        return Ok(id);
    }
    let email = Email::parse(user).map_err(|_| {
        Usage(format!(
            "{user:?} is neither a user id nor an email address"
        ))
    })?;
    let owner = commands
        .find_owner(ClaimKind::Email, email.as_str())
        .await?;
    owner
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Usage(format!("no user has the email address {user}")).into())
}

/// Writes `bytes` to `path` whole or not at all: beside it first, then renamed into place.
pub fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut partial = tempfile::NamedTempFile::new_in(&folder)
        .with_context(|| format!("creating a file in {}", folder.display()))?;
    partial.write_all(bytes)?;
    partial.as_file().sync_all()?;
    partial
        .persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
