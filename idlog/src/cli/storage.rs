//! `idlog storage verify|rebuild`: users' storage folders checked against the users, and
//! repaired.

use super::{confirm, progress_bar};
use clap::Subcommand;
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::wiring::{Core, object_store, projector_over, storage_worker};
use std::collections::BTreeSet;

/// `idlog storage ...`.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
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

/// `idlog storage ...`.
pub async fn run(settings: &Settings, command: StorageCommand) -> anyhow::Result<()> {
    match command {
        StorageCommand::Verify => verify(settings).await,
        StorageCommand::Rebuild { user, prune, yes } => rebuild(settings, user, prune, yes).await,
    }
}

/// Every user who should have a storage folder: the directory's users not deleted, brought up
/// to date first.
async fn current_users(core: &Core, settings: &Settings) -> anyhow::Result<BTreeSet<String>> {
    let projector = projector_over(core.database.clone(), core.log.clone(), settings);
    projector.prepare().await?;
    projector.catch_up().await?;
    Ok(projections::queries::Queries::new(core.database.clone())
        .live_user_ids()
        .await?)
}

/// `idlog storage verify`: exit 0 when every user has the full structure and nothing else is
/// there; 1 (with the differences) otherwise.
async fn verify(settings: &Settings) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let users = current_users(&core, settings).await?;
    let storage = storage_worker(core.commands.clone(), object_store(settings).await?);
    let bar = progress_bar(1, "checking storage");
    let report = storage.verify(&users).await?;
    bar.finish_and_clear();
    for (user, key) in &report.missing {
        println!("missing  {key}  (user {user})");
    }
    for key in &report.orphans {
        println!("orphan   {key}");
    }
    println!(
        "{} users checked: {} objects missing, {} orphans",
        report.checked_users,
        report.missing.len(),
        report.orphans.len()
    );
    if report.is_clean() {
        Ok(())
    } else {
        anyhow::bail!(
            "storage differs from the users: `idlog storage rebuild [--prune]` repairs it"
        )
    }
}

/// `idlog storage rebuild [--user ID] [--prune]`.
async fn rebuild(
    settings: &Settings,
    user: Option<String>,
    prune: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let storage = storage_worker(core.commands.clone(), object_store(settings).await?);
    if let Some(user) = user {
        if user.parse::<domain::UserId>().is_err() {
            return Err(Usage(format!("{user:?} is not a user id")).into());
        }
        let synced = storage.sync(&user).await?;
        println!("{user}: {synced:?}");
        return Ok(());
    }
    let users = current_users(&core, settings).await?;
    let report = storage.verify(&users).await?;
    if prune && !report.orphans.is_empty() {
        confirm(
            yes,
            &format!(
                "Remove {} orphaned folders and objects from storage?",
                report.orphans.len()
            ),
            "yes",
        )?;
    }
    let bar = progress_bar(0, "repairing storage");
    let repaired = storage
        .repair(&report, prune, &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .await?;
    bar.finish_and_clear();
    println!(
        "{} users checked: {} folders repaired, {} orphans removed{}",
        report.checked_users,
        repaired.users_repaired,
        repaired.orphans_removed,
        if !prune && !report.orphans.is_empty() {
            format!(
                " ({} orphans left: --prune removes them)",
                report.orphans.len()
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
