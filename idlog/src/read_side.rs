//! The operators' read-side commands: `idlog projections ...`, `idlog maintenance
//! prune-activity` and `idlog analysts grant`.

use crate::config::Settings;
use crate::runtime::{open, projector_over};
use crate::{Usage, confirm};
use anyhow::Context;
use eventstore::{Database, Opened};
use indicatif::{ProgressBar, ProgressStyle};
use projections::Until;
use projections::queries::Queries;
use secrecy::{ExposeSecret, SecretString};

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

/// Reads `--until`: a log position, an RFC 3339 time, or a date (its midnight, UTC).
pub fn parse_until(text: &str) -> Result<Until, Usage> {
    match audit::Bound::parse(text) {
        Ok(audit::Bound::Position(position)) => Ok(Until::Position(position)),
        Ok(audit::Bound::Time(time)) => Ok(Until::Time(time)),
        Err(message) => Err(Usage(format!("--until {message}"))),
    }
}

/// Reads a span like `90d`, `12h` or `30m`.
pub fn parse_span(text: &str) -> Result<chrono::TimeDelta, Usage> {
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

/// `idlog projections status`.
pub async fn status(settings: &Settings, json: bool) -> anyhow::Result<()> {
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
pub async fn rebuild(
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
pub async fn dead_letters(settings: &Settings, all: bool) -> anyhow::Result<()> {
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
pub async fn resolve(settings: &Settings, name: &str, skip: bool, yes: bool) -> anyhow::Result<()> {
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

/// `idlog maintenance prune-activity --older-than SPAN`.
pub async fn prune_activity(
    settings: &Settings,
    older_than: &str,
    yes: bool,
) -> anyhow::Result<()> {
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

/// `idlog analysts grant ROLE [--password-stdin]`: a read-only PostgreSQL role for analysts'
/// SQL, limited to the `analytics` schema's views.
pub async fn grant(
    settings: &Settings,
    role: &str,
    password: Option<SecretString>,
) -> anyhow::Result<()> {
    let valid = !role.is_empty()
        && role.len() <= 63
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && role.starts_with(|c: char| c.is_ascii_lowercase());
    if !valid {
        return Err(Usage(format!(
            "{role:?}: a role name is lower-case letters, digits and _, starting with a letter"
        ))
        .into());
    }
    let Opened { log, database } = open(settings).await?;
    projector_over(database.clone(), log, settings)
        .prepare()
        .await?;
    let Database::Postgres(pool) = &database else {
        return Err(Usage(
            "analysts' roles are PostgreSQL roles; on the embedded SQLite file, give analysts a read-only copy of it".into(),
        )
        .into());
    };
    let mut tx = pool.begin().await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(role)
        .fetch_optional(&mut *tx)
        .await?;
    // Identifiers cannot be bound; `role` was checked to be a plain lower-case name above.
    if exists.is_none() {
        sqlx::query(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
        ))
        .execute(&mut *tx)
        .await?;
    }
    if let Some(password) = password {
        // The password travels as a literal (roles take no bound parameters): quote it.
        let quoted = password.expose_secret().replace('\'', "''");
        sqlx::query(&format!("ALTER ROLE {role} PASSWORD '{quoted}'"))
            .execute(&mut *tx)
            .await?;
    }
    let database_name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut *tx)
        .await?;
    for statement in [
        format!("GRANT CONNECT ON DATABASE \"{database_name}\" TO {role}"),
        format!(
            "GRANT USAGE ON SCHEMA {} TO {role}",
            projections::sql::VIEW_SCHEMA
        ),
        format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {role}",
            projections::sql::VIEW_SCHEMA
        ),
        // Rebuilds replace the views: new ones are granted too.
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {role}",
            projections::sql::VIEW_SCHEMA
        ),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    println!(
        "{role} may now read the views of schema {} (and nothing else)",
        projections::sql::VIEW_SCHEMA
    );
    Ok(())
}
