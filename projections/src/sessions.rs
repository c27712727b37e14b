//! Sessions: every session with its device, address, start, last use and end.

use crate::{ApplyError, Fact, Projection, Table, Tables};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Aggregate;
use domain::session::{SessionAggregate, SessionEvent};
use domain::user::UserAggregate;
use eventstore::RecordedEvent;
use eventstore::sql::{Arg, Tx, execute_in, fetch_in, insert_rows, label, upsert_suffix};
use std::collections::{BTreeSet, HashMap};

/// The sessions projection.
#[derive(Debug, Clone, Copy)]
pub struct Sessions;

/// Its name.
pub const NAME: &str = "sessions";

const TABLES: &[Table] = &[Table {
    name: "sessions",
    columns: "session_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        device TEXT,
        ip TEXT,
        user_agent TEXT,
        started_at {time} NOT NULL,
        last_used_at {time} NOT NULL,
        expires_at {time} NOT NULL,
        idle_timeout_seconds {int} NOT NULL,
        status TEXT NOT NULL,
        ended_at {time},
        end_reason TEXT",
    indexes: &[("user", "user_id, started_at")],
}];

const COLUMNS: &[&str] = &[
    "session_id",
    "user_id",
    "device",
    "ip",
    "user_agent",
    "started_at",
    "last_used_at",
    "expires_at",
    "idle_timeout_seconds",
    "status",
    "ended_at",
    "end_reason",
];

/// A row of the sessions table.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct SessionRow {
    /// Id.
    pub session_id: String,
    /// Whose.
    pub user_id: String,
    /// Device named at login.
    pub device: Option<String>,
    /// Client address at login.
    pub ip: Option<String>,
    /// User agent at login.
    pub user_agent: Option<String>,
    /// Started.
    #[serde(serialize_with = "domain::time::micros")]
    pub started_at: DateTime<Utc>,
    /// Last login or refresh.
    #[serde(serialize_with = "domain::time::micros")]
    pub last_used_at: DateTime<Utc>,
    /// Absolute end.
    #[serde(serialize_with = "domain::time::micros")]
    pub expires_at: DateTime<Utc>,
    /// Idle timeout.
    pub idle_timeout_seconds: i64,
    /// `active`, `ended` or `revoked` (an active session past its times has expired).
    pub status: String,
    /// When it ended or was revoked.
    #[serde(serialize_with = "domain::time::micros_option")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why.
    pub end_reason: Option<String>,
}

impl SessionRow {
    fn args(&self) -> Vec<Arg> {
        vec![
            self.session_id.clone().into(),
            self.user_id.clone().into(),
            self.device.clone().into(),
            self.ip.clone().into(),
            self.user_agent.clone().into(),
            self.started_at.into(),
            self.last_used_at.into(),
            self.expires_at.into(),
            self.idle_timeout_seconds.into(),
            self.status.clone().into(),
            self.ended_at.into(),
            self.end_reason.clone().into(),
        ]
    }
}

#[async_trait]
impl Projection for Sessions {
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
        let table = tables.get("sessions");
        let mut facts = Vec::new();
        for record in events {
            if record.stream_type != SessionAggregate::STREAM_TYPE {
                continue;
            }
            if let Fact::Session(event) = Fact::parse(record)? {
                facts.push((record, event));
            }
        }
        let started_here: BTreeSet<&str> = facts
            .iter()
            .filter(|(_, event)| matches!(event, SessionEvent::SessionStarted { .. }))
            .map(|(record, _)| record.stream_id.as_str())
            .collect();
        let earlier: Vec<&str> = facts
            .iter()
            .map(|(record, _)| record.stream_id.as_str())
            .filter(|id| !started_here.contains(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let statement = format!(
            "SELECT {} FROM {table} WHERE session_id IN",
            COLUMNS.join(", ")
        );
        let mut rows: HashMap<String, SessionRow> =
            fetch_in::<SessionRow>(tx, &statement, &earlier)
                .await?
                .into_iter()
                .map(|row| (row.session_id.clone(), row))
                .collect();
        let mut dirty = BTreeSet::new();
        for (record, event) in facts {
            let id = record.stream_id.clone();
            if let SessionEvent::SessionStarted {
                user_id,
                device,
                ip,
                user_agent,
                idle_timeout_seconds,
                expires_at,
                at,
                ..
            } = &event
            {
                rows.insert(
                    id.clone(),
                    SessionRow {
                        session_id: id.clone(),
                        user_id: user_id.to_string(),
                        device: device.as_ref().map(ToString::to_string),
                        ip: ip.map(|ip| ip.to_string()),
                        user_agent: user_agent.as_ref().map(ToString::to_string),
                        started_at: *at,
                        last_used_at: *at,
                        expires_at: *expires_at,
                        idle_timeout_seconds: *idle_timeout_seconds,
                        status: "active".into(),
                        ended_at: None,
                        end_reason: None,
                    },
                );
                dirty.insert(id);
                continue;
            }
            let Some(row) = rows.get_mut(&id) else {
                tracing::debug!(
                    position = record.global_position,
                    "event of an unknown session"
                );
                continue;
            };
            match &event {
                SessionEvent::SessionStarted { .. } => {}
                SessionEvent::SessionRefreshed { at, .. } | SessionEvent::SessionUsed { at } => {
                    row.last_used_at = *at;
                }
                SessionEvent::SessionEnded { reason, at } => {
                    row.status = "ended".into();
                    row.ended_at = Some(*at);
                    row.end_reason = Some(label(reason));
                }
                SessionEvent::SessionRevoked { reason, at } => {
                    row.status = "revoked".into();
                    row.ended_at = Some(*at);
                    row.end_reason = Some(label(reason));
                }
            }
            dirty.insert(id);
        }
        let args: Vec<Vec<Arg>> = dirty
            .iter()
            .filter_map(|id| rows.get(id))
            .map(SessionRow::args)
            .collect();
        let suffix = upsert_suffix(COLUMNS, &["session_id"]);
        insert_rows(tx, &table, COLUMNS, &suffix, args).await?;
        // A forgotten user's sessions keep their times, not where they were used from.
        let forgotten: Vec<&str> = events
            .iter()
            .filter(|record| {
                record.stream_type == UserAggregate::STREAM_TYPE
                    && record.event_type == domain::user::USER_FORGOTTEN
            })
            .map(|record| record.stream_id.as_str())
            .collect();
        let statement = format!(
            "UPDATE {table} SET device = NULL, ip = NULL, user_agent = NULL WHERE user_id IN"
        );
        execute_in(tx, &statement, &forgotten).await?;
        Ok(())
    }
}

/// The columns of the sessions table, in order.
pub(crate) fn columns() -> String {
    COLUMNS.join(", ")
}
