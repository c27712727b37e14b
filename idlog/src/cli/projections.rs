//! `idlog projections ...`: the read models' status, rebuilds (live, or a past view), their
//! dead letters, and retrying or skipping a dead-lettered event.

use super::{confirm, progress_bar};
use anyhow::Context;
use clap::Subcommand;
use eventstore::Opened;
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::wiring::{open, projector_over};
use projections::Until;

/// `idlog projections ...`.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
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

/// `idlog projections ...`.
pub async fn run(settings: &Settings, command: ProjectionsCommand) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::Status { json } => status(settings, json).await,
        ProjectionsCommand::Rebuild { name, until } => rebuild(settings, name, until).await,
        ProjectionsCommand::DeadLetters { all } => dead_letters(settings, all).await,
        ProjectionsCommand::Retry { name } => resolve(settings, &name, false, false).await,
        ProjectionsCommand::Skip { name, yes } => resolve(settings, &name, true, yes).await,
    }
}

/// Reads `--until`: a log position, an RFC 3339 time, or a date (its midnight, UTC).
fn parse_until(text: &str) -> Result<Until, Usage> {
    match audit::Bound::parse(text) {
        Ok(audit::Bound::Position(position)) => Ok(Until::Position(position)),
        Ok(audit::Bound::Time(time)) => Ok(Until::Time(time)),
        Err(message) => Err(Usage(format!("--until {message}"))),
    }
}

/// `idlog projections status`.
async fn status(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let Opened { log, database } = open(settings).await?;
    let projector = projector_over(database, log, settings);
    projector.prepare().await?;
    let report = projector.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{:<12} {:>10} {:>10} {:>8} {:>10}  {:<10} {:>5}  state",
        "projection", "position", "head", "lag", "lag age", "generation", "dead"
    );
    for p in &report.projections {
        let state = match p.stopped_at {
            Some(position) => format!(
                "STOPPED at {position}: see `idlog projections dead-letters`, then retry or skip"
            ),
            None if p.lag == 0 => "caught up".to_owned(),
            None => "catching up".to_owned(),
        };
        println!(
            "{:<12} {:>10} {:>10} {:>8} {:>9.1}s  {:<10} {:>5}  {state}",
            p.name, p.position, p.head, p.lag, p.lag_seconds, p.generation, p.open_dead_letters
        );
    }
    Ok(())
}

/// `idlog projections rebuild [NAME] [--until POS|TIME]`.
async fn rebuild(
    settings: &Settings,
    name: Option<String>,
    until: Option<String>,
) -> anyhow::Result<()> {
    let until = until.as_deref().map(parse_until).transpose()?;
    let Opened { log, database } = open(settings).await?;
    let projector = projector_over(database, log, settings);
    projector.prepare().await?;
    let reports = match name {
        Some(name) => {
            if !projector.names().contains(&name.as_str()) {
                return Err(Usage(format!(
                    "there is no projection named {name:?}; known: {}",
                    projector.names().join(", ")
                ))
                .into());
            }
            let bar = progress_bar(0, &name);
            let report = projector
                .rebuild(&name, until, &|position, head| {
                    bar.set_length(head);
                    bar.set_position(position);
                })
                .await
                .with_context(|| format!("rebuilding {name}"))?;
            bar.finish_and_clear();
            vec![report]
        }
        None => {
            let bar = progress_bar(0, "all read models");
            let reports = projector
                .rebuild_all(until, &|position, head| {
                    bar.set_length(head);
                    bar.set_position(position);
                })
                .await
                .context("rebuilding the read models")?;
            bar.finish_and_clear();
            reports
        }
    };
    for report in reports {
        let name = &report.name;
        let rate = report.events as f64 / report.seconds.max(0.001);
        if report.swapped {
            println!(
                "{name}: rebuilt to position {} in {:.1}s ({rate:.0} events/s); the fresh tables are live",
                report.position, report.seconds
            );
        } else {
            println!(
                "{name}: past view at position {} in {:.1}s; query the *_as_of views (analytics.users_as_of on PostgreSQL, analytics_users_as_of on SQLite)",
                report.position, report.seconds
            );
        }
    }
    Ok(())
}

/// `idlog projections dead-letters [--all]`.
async fn dead_letters(settings: &Settings, all: bool) -> anyhow::Result<()> {
    let Opened { log, database } = open(settings).await?;
    let projector = projector_over(database, log, settings);
    projector.prepare().await?;
    let letters = projector.dead_letters(all).await?;
    if letters.is_empty() {
        println!("no dead letters");
    }
    for letter in letters {
        println!(
            "#{} {} position {} {} ({} attempts, {}){}\n    {}",
            letter.id,
            letter.projection,
            letter.position,
            letter.event_type,
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

/// `idlog projections retry NAME` and `idlog projections skip NAME`.
async fn resolve(settings: &Settings, name: &str, skip: bool, yes: bool) -> anyhow::Result<()> {
    let Opened { log, database } = open(settings).await?;
    let projector = projector_over(database, log, settings);
    projector.prepare().await?;
    if !projector.names().contains(&name) {
        return Err(Usage(format!(
            "there is no projection named {name:?}; known: {}",
            projector.names().join(", ")
        ))
        .into());
    }
    if skip {
        confirm(
            yes,
            &format!(
                "Skip the dead-lettered event of {name}? Its read model will never reflect it (until a rebuild)."
            ),
            "yes",
        )?;
        let position = projector.skip(name).await.map_err(refused)?;
        println!("{name}: skipped position {position}; a running server continues after it");
    } else {
        projector.retry(name).await.map_err(refused)?;
        println!("{name}: will try its dead-lettered event again");
    }
    Ok(())
}

fn refused(error: projections::ProjectorError) -> anyhow::Error {
    match error {
        projections::ProjectorError::Refused(message) => Usage(message).into(),
        other => other.into(),
    }
}
