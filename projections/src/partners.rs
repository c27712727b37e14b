//! Partner activity: every file transfer and transaction a partner's systems or members
//! recorded, one row each, and per partner, per day, how many of each kind, direction and
//! status (what per-partner and cross-partner figures sum).

use crate::events::Fact;
use crate::{ApplyError, Projection, Table, Tables};
use async_trait::async_trait;
use chrono::NaiveDate;
use domain::Aggregate;
use domain::partner::{RecordAggregate, RecordEvent};
use eventstore::sql::{Arg, Tx, insert_rows};
use eventstore::{EventMetadata, RecordedEvent};
use std::collections::BTreeMap;

/// The partner activity projection.
#[derive(Debug, Clone, Copy)]
pub struct Partners;

/// Its name.
pub const NAME: &str = "partners";

const TABLES: &[Table] = &[
    Table {
        name: "partner_records",
        columns: "position {int} PRIMARY KEY,
            record_id TEXT NOT NULL,
            organization_id TEXT NOT NULL,
            action TEXT NOT NULL,
            kind TEXT NOT NULL,
            direction TEXT NOT NULL,
            resource_type TEXT,
            resource_id TEXT,
            filename TEXT,
            size {int},
            document_type TEXT,
            status TEXT,
            folder TEXT,
            at {time} NOT NULL,
            actor_id TEXT",
        indexes: &[
            ("organization", "organization_id, position"),
            ("kind", "organization_id, kind, position"),
            ("status", "organization_id, status, position"),
        ],
    },
    Table {
        name: "partner_daily",
        columns: "organization_id TEXT NOT NULL,
            day {date} NOT NULL,
            kind TEXT NOT NULL,
            direction TEXT NOT NULL,
            status TEXT NOT NULL,
            n {int} NOT NULL,
            PRIMARY KEY (organization_id, day, kind, direction, status)",
        indexes: &[("day", "day")],
    },
];

const RECORD_COLUMNS: &[&str] = &[
    "position",
    "record_id",
    "organization_id",
    "action",
    "kind",
    "direction",
    "resource_type",
    "resource_id",
    "filename",
    "size",
    "document_type",
    "status",
    "folder",
    "at",
    "actor_id",
];

/// A day's count key: organization, day, kind, direction, status (`""` for none).
type DayKey = (String, NaiveDate, String, String, String);

#[async_trait]
impl Projection for Partners {
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
        let mut rows = Vec::new();
        let mut days: BTreeMap<DayKey, i64> = BTreeMap::new();
        for record in events {
            // Only partner records are read: another stream's event that does not read stops
            // the read model that folds it, not this one.
            if record.stream_type != RecordAggregate::STREAM_TYPE {
                continue;
            }
            let Fact::PartnerRecord(RecordEvent::PartnerActivityRecorded {
                record_id,
                organization_id,
                action,
                kind,
                direction,
                resource_type,
                resource_id,
                details,
                status,
                folder,
                at,
            }) = Fact::parse(record)?
            else {
                continue;
            };
            let metadata: EventMetadata = record.metadata().unwrap_or_default();
            let status = status.map(|status| status.to_string());
            *days
                .entry((
                    organization_id.to_string(),
                    at.date_naive(),
                    kind.to_string(),
                    direction.to_string(),
                    status.clone().unwrap_or_default(),
                ))
                .or_default() += 1;
            rows.push(vec![
                Arg::Int(Some(crate::projector::to_db(record.global_position))),
                record_id.to_string().into(),
                organization_id.to_string().into(),
                action.to_string().into(),
                kind.to_string().into(),
                direction.to_string().into(),
                resource_type.map(|value| value.as_str().to_owned()).into(),
                resource_id.map(|value| value.to_string()).into(),
                details.filename.map(|value| value.to_string()).into(),
                Arg::Int(details.size.and_then(|size| i64::try_from(size).ok())),
                details.document_type.map(|value| value.to_string()).into(),
                status.into(),
                folder.map(|folder| folder.to_string()).into(),
                at.into(),
                metadata.actor.id.into(),
            ]);
        }
        insert_rows(
            tx,
            &tables.get("partner_records"),
            RECORD_COLUMNS,
            "ON CONFLICT (position) DO NOTHING",
            rows,
        )
        .await?;
        let counts: Vec<Vec<Arg>> = days
            .into_iter()
            .map(|((organization, day, kind, direction, status), n)| {
                vec![
                    organization.into(),
                    day.into(),
                    kind.into(),
                    direction.into(),
                    status.into(),
                    n.into(),
                ]
            })
            .collect();
        let target = format!("{} AS existing", tables.get("partner_daily"));
        insert_rows(
            tx,
            &target,
            &["organization_id", "day", "kind", "direction", "status", "n"],
            "ON CONFLICT (organization_id, day, kind, direction, status) \
             DO UPDATE SET n = existing.n + excluded.n",
            counts,
        )
        .await?;
        Ok(())
    }
}
