//! The operators' worker commands: `idlog storage verify|rebuild` and `idlog workers ...`.

use crate::config::Settings;
use crate::read_side::progress_bar;
use crate::runtime::{Core, object_store, projector_over, storage_worker, worker_runner};
use crate::{Usage, confirm};
use std::collections::BTreeSet;

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
pub async fn verify(settings: &Settings) -> anyhow::Result<()> {
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
pub async fn rebuild(
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

/// `idlog workers status`: exit 1 when a worker cannot reach its bus (a health check).
pub async fn status(settings: &Settings) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let runner = worker_runner(&core, settings, object_store(settings).await?)?;
    println!(
        "{:<10} {:>10} {:>8} {:>5}  bus",
        "worker", "position", "lag", "dead"
    );
    let statuses = runner.status().await?;
    for worker in &statuses {
        println!(
            "{:<10} {:>10} {:>8} {:>5}  {}",
            worker.name,
            worker.position,
            worker.lag,
            worker.open_dead_letters,
            match (runner.bus(), worker.connected) {
                (workers::Bus::Embedded, _) => "embedded",
                (workers::Bus::Kafka(_), true) => "kafka",
                (workers::Bus::Kafka(_), false) => "kafka (not reachable)",
            }
        );
    }
    if statuses.iter().any(|worker| !worker.connected) {
        anyhow::bail!("Kafka is not reachable")
    }
    Ok(())
}

/// `idlog workers dead-letters [--all]`.
pub async fn dead_letters(settings: &Settings, all: bool) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let runner = worker_runner(&core, settings, object_store(settings).await?)?;
    let letters = runner.dead_letters(all).await?;
    if letters.is_empty() {
        println!("no dead letters");
    }
    for letter in letters {
        println!(
            "#{} {} position {} {} of {} ({} attempts, {}){}\n    {}",
            letter.id,
            letter.worker,
            letter.position,
            letter.event_type,
            letter.stream_id,
            letter.attempts,
            letter.failed_at.to_rfc3339(),
            letter
                .resolution
                .map(|how| format!(" [{how}]"))
                .unwrap_or_default(),
            letter.error
        );
    }
    Ok(())
}

/// `idlog workers retry ID|--all`.
pub async fn retry(settings: &Settings, id: Option<i64>, all: bool) -> anyhow::Result<()> {
    if id.is_none() && !all {
        return Err(Usage("name a dead letter's id, or pass --all".into()).into());
    }
    let core = Core::open(settings).await?;
    let runner = worker_runner(&core, settings, object_store(settings).await?)?;
    let report = runner.retry(id).await?;
    println!(
        "{} handled, {} still failing",
        report.succeeded, report.failed
    );
    if report.failed > 0 {
        anyhow::bail!(
            "{} dead letters still fail; see `idlog workers dead-letters`",
            report.failed
        )
    }
    Ok(())
}
