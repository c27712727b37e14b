//! Known devices: the kinds of device each user signed in from ("Firefox on Linux"), with
//! when they were first and last seen, from where last, and how many sign-ins.

use crate::{ApplyError, Fact, Projection, Table, Tables};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Aggregate;
use domain::session::{SessionAggregate, SessionEvent};
use domain::user::UserAggregate;
use domain::values::DeviceKind;
use eventstore::RecordedEvent;
use eventstore::sql::{Arg, Tx, execute_in, insert_rows};
use std::collections::BTreeMap;

/// The known-devices projection.
#[derive(Debug, Clone, Copy)]
pub struct Devices;

/// Its name.
pub const NAME: &str = "devices";

const TABLES: &[Table] = &[Table {
    name: "devices",
    columns: "user_id TEXT NOT NULL,
        device TEXT NOT NULL,
        first_seen_at {time} NOT NULL,
        last_seen_at {time} NOT NULL,
        last_ip TEXT,
        sign_ins {int} NOT NULL,
        PRIMARY KEY (user_id, device)",
    indexes: &[("recent", "user_id, last_seen_at")],
}];

const COLUMNS: &[&str] = &[
    "user_id",
    "device",
    "first_seen_at",
    "last_seen_at",
    "last_ip",
    "sign_ins",
];

/// The columns of the devices table, in order.
pub(crate) fn columns() -> String {
    COLUMNS.join(", ")
}

/// A kind of device a user signed in from.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceRow {
    /// Whose.
    pub user_id: String,
    /// The kind of device, e.g. `Firefox on Linux`.
    pub device: String,
    /// The first sign-in from it.
    #[serde(serialize_with = "domain::time::micros")]
    pub first_seen_at: DateTime<Utc>,
    /// The latest sign-in from it.
    #[serde(serialize_with = "domain::time::micros")]
    pub last_seen_at: DateTime<Utc>,
    /// The address of the latest sign-in from it.
    pub last_ip: Option<String>,
    /// How many sign-ins came from it.
    pub sign_ins: i64,
}

/// What a batch says about one (user, device): merged before writing, so that one statement
/// touches each row once.
struct Seen {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    ip: Option<String>,
    count: i64,
}

#[async_trait]
impl Projection for Devices {
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
        let table = tables.get("devices");
        let mut seen: BTreeMap<(String, String), Seen> = BTreeMap::new();
        for record in events {
            if record.stream_type != SessionAggregate::STREAM_TYPE {
                continue;
            }
            let Fact::Session(SessionEvent::SessionStarted {
                user_id,
                user_agent,
                ip,
                at,
                ..
            }) = Fact::parse(record)?
            else {
                continue;
            };
            let Some(agent) = user_agent else {
                continue;
            };
            let device = DeviceKind::of_user_agent(agent.as_str()).to_string();
            let ip = ip.map(|ip| ip.to_string());
            seen.entry((user_id.to_string(), device))
                .and_modify(|seen| {
                    seen.last = at;
                    seen.ip.clone_from(&ip);
                    seen.count += 1;
                })
                .or_insert(Seen {
                    first: at,
                    last: at,
                    ip,
                    count: 1,
                });
        }
        let rows: Vec<Vec<Arg>> = seen
            .into_iter()
            .map(|((user_id, device), seen)| {
                vec![
                    user_id.into(),
                    device.into(),
                    seen.first.into(),
                    seen.last.into(),
                    seen.ip.into(),
                    seen.count.into(),
                ]
            })
            .collect();
        let suffix = format!(
            "ON CONFLICT (user_id, device) DO UPDATE SET last_seen_at = excluded.last_seen_at, \
             last_ip = excluded.last_ip, sign_ins = {table}.sign_ins + excluded.sign_ins"
        );
        insert_rows(tx, &table, COLUMNS, &suffix, rows).await?;
        // A forgotten user's devices keep their kinds and times, not where they were used from.
        let forgotten: Vec<&str> = events
            .iter()
            .filter(|record| {
                record.stream_type == UserAggregate::STREAM_TYPE
                    && record.event_type == domain::user::USER_FORGOTTEN
            })
            .map(|record| record.stream_id.as_str())
            .collect();
        let statement = format!("UPDATE {table} SET last_ip = NULL WHERE user_id IN");
        execute_in(tx, &statement, &forgotten).await?;
        Ok(())
    }
}
