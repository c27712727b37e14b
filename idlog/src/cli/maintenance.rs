//! `idlog maintenance ...`: housekeeping: expired tokens (cleanup-tokens) and lapsed sessions
//! (expire-sessions) recorded as such through the command handlers, and old rows of the
//! activity read model deleted (prune-activity).

use super::operator::Operator;
use super::{cli_metadata, confirm, progress_bar};
use clap::Subcommand;
use commands::CommandContext;
use domain::session::{EndReason, SessionAggregate, SessionCommand, SessionError};
use domain::user::{UserAggregate, UserCommand};
use eventstore::Opened;
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::wiring::{open, projector_over};
use projections::queries::{Queries, UserFilter};

/// `idlog maintenance ...`.
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
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

/// `idlog maintenance ...`.
pub async fn run(settings: &Settings, command: MaintenanceCommand) -> anyhow::Result<()> {
    match command {
        MaintenanceCommand::CleanupTokens => cleanup_tokens(settings).await,
        MaintenanceCommand::ExpireSessions => expire_sessions(settings).await,
        MaintenanceCommand::PruneActivity { older_than, yes } => {
            prune_activity(settings, &older_than, yes).await
        }
    }
}

/// `idlog maintenance cleanup-tokens`: drops expired verification and reset tokens from every
/// user (an `ExpiredTokensDiscarded` event where there were any).
#[tracing::instrument(skip_all)]
async fn cleanup_tokens(settings: &Settings) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let users = operator.all_users(UserFilter::default()).await?;
    let now = chrono::Utc::now();
    let bar = progress_bar(users.len() as u64, "looking for expired tokens");
    let mut cleaned = 0;
    let mut failures = Vec::new();
    for user in &users {
        let executed = operator
            .app
            .commands
            .execute::<UserAggregate>(
                &user.id,
                UserCommand::DiscardExpiredTokens { at: now },
                CommandContext {
                    metadata: cli_metadata(),
                    ..Default::default()
                },
            )
            .await;
        match executed {
            Ok(executed) if !executed.events.is_empty() => cleaned += 1,
            Ok(_) => {}
            Err(error) => failures.push(format!("{}: {error}", user.id)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{} users checked: expired tokens discarded for {cleaned}",
        users.len()
    );
    for failure in &failures {
        eprintln!("failed: {failure}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} users could not be cleaned up", failures.len())
    }
}

/// `idlog maintenance expire-sessions`: ends sessions that are still open in the log but past
/// their idle timeout or absolute lifetime (they stopped working already; this records it).
#[tracing::instrument(skip_all)]
async fn expire_sessions(settings: &Settings) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let now = chrono::Utc::now();
    let lapsed = operator
        .queries()
        .await?
        .lapsed_sessions(now)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let bar = progress_bar(lapsed.len() as u64, "ending expired sessions");
    let mut ended = 0;
    for session in &lapsed {
        let outcome = operator
            .app
            .commands
            .execute::<SessionAggregate>(
                &session.session_id,
                SessionCommand::End {
                    reason: EndReason::Expired,
                    at: now,
                },
                CommandContext {
                    metadata: cli_metadata(),
                    data_subject: Some(session.user_id.clone()),
                    ..Default::default()
                },
            )
            .await;
        match outcome {
            Ok(_) => ended += 1,
            // Ended meanwhile (a logout, another run): nothing to record.
            Err(commands::CommandError::Rejected(SessionError::NotActive)) => {}
            Err(error) => anyhow::bail!("session {}: {error}", session.session_id),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{ended} expired sessions ended");
    Ok(())
}

/// Reads a span like `90d`, `12h` or `30m`.
fn parse_span(text: &str) -> Result<chrono::TimeDelta, Usage> {
    let invalid = || Usage(format!("{text:?}: give a span like 90d, 12h or 30m"));
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: i64 = number.parse().map_err(|_| invalid())?;
    if number <= 0 {
        return Err(invalid());
    }
    match unit {
        "d" => chrono::TimeDelta::try_days(number),
        "h" => chrono::TimeDelta::try_hours(number),
        "m" => chrono::TimeDelta::try_minutes(number),
        _ => None,
    }
    .ok_or_else(invalid)
}

/// `idlog maintenance prune-activity --older-than SPAN`.
async fn prune_activity(settings: &Settings, older_than: &str, yes: bool) -> anyhow::Result<()> {
    let span = parse_span(older_than)?;
    let before = chrono::Utc::now() - span;
    confirm(
        yes,
        &format!(
            "Delete activity read-model rows recorded before {}? The log keeps every event; a rebuild brings them back.",
            before.to_rfc3339()
        ),
        "yes",
    )?;
    let Opened { log, database } = open(settings).await?;
    projector_over(database.clone(), log, settings)
        .prepare()
        .await?;
    let removed = Queries::new(database).prune_activity(before).await?;
    println!(
        "removed {removed} activity rows recorded before {}",
        before.to_rfc3339()
    );
    Ok(())
}
