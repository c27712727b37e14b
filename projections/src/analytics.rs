//! Analytics: per day, per user, how many of each countable thing happened. Totals, daily
//! series, active users and per-organization figures are sums over it (organizations through
//! their current members).

use crate::{ApplyError, Projection, Table, Tables};
use async_trait::async_trait;
use chrono::NaiveDate;
use domain::Aggregate;
use domain::user::{UserAggregate, UserEventType};
use eventstore::sql::{Arg, Tx, insert_rows};
use eventstore::{ActorKind, RecordedEvent};
use std::collections::BTreeMap;

/// The analytics projection.
#[derive(Debug, Clone, Copy)]
pub struct Analytics;

/// Its name.
pub const NAME: &str = "analytics";

const TABLES: &[Table] = &[Table {
    name: "daily",
    columns: "day {date} NOT NULL,
        metric TEXT NOT NULL,
        user_id TEXT NOT NULL,
        n {int} NOT NULL,
        PRIMARY KEY (metric, day, user_id)",
    indexes: &[("user", "user_id, day")],
}];

/// What is counted, by metric name.
pub const METRICS: &[&str] = &[
    "registrations",
    "logins",
    "failed_logins",
    "lockouts",
    "email_verifications",
    "phone_verifications",
    "password_resets",
    "active",
];

/// The metric a user event counts toward, if any (none for a type no user event has). Only the
/// type counts, so an event whose payload no longer reads still counts (and never stops this
/// projection).
fn metric_of(event_type: &str) -> Option<&'static str> {
    use UserEventType as T;
    Some(match event_type.parse().ok()? {
        T::UserRegistered | T::UserCreated => "registrations",
        T::LoginSucceeded => "logins",
        T::LoginFailed => "failed_logins",
        T::AccountLocked => "lockouts",
        T::EmailVerified => "email_verifications",
        T::PhoneVerified => "phone_verifications",
        T::PasswordResetCompleted => "password_resets",
        _ => return None,
    })
}

#[async_trait]
impl Projection for Analytics {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [Table] {
        TABLES
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ApplyError> {
        let mut counts: BTreeMap<(NaiveDate, &'static str, String), i64> = BTreeMap::new();
        for record in events {
            let day = record.recorded_at.date_naive();
            if record.stream_type == UserAggregate::STREAM_TYPE
                && let Some(metric) = metric_of(&record.event_type)
            {
                *counts
                    .entry((day, metric, record.stream_id.clone()))
                    .or_default() += 1;
            }
            // Active: the user did something themself (logged in, refreshed, edited, ...).
            if let Ok(metadata) = record.metadata()
                && metadata.actor.kind == ActorKind::User
                && let Some(user_id) = metadata.actor.id
            {
                *counts.entry((day, "active", user_id)).or_default() += 1;
            }
        }
        let rows: Vec<Vec<Arg>> = counts
            .into_iter()
            .map(|((day, metric, user_id), count)| {
                vec![day.into(), metric.into(), user_id.into(), count.into()]
            })
            .collect();
        let table = tables.get("daily");
        let target = format!("{table} AS existing");
        let suffix = "ON CONFLICT (metric, day, user_id) DO UPDATE SET n = existing.n + excluded.n";
        insert_rows(
            tx,
            &target,
            &["day", "metric", "user_id", "n"],
            suffix,
            rows,
        )
        .await?;
        Ok(())
    }
}
