//! Partner activity: one partner's records (filtered, newest first, keyset pages), its
//! transaction figures, and the figures across partners.

use super::{Binds, Page, Queries, QueryError, limit_of};
use chrono::{DateTime, NaiveDate, Utc};
use eventstore::sql;
use serde::Serialize;
use std::collections::BTreeMap;

/// A partner activity record as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PartnerRecordRow {
    /// Its log position (newest first is position order).
    pub position: i64,
    /// Its id.
    pub record_id: String,
    /// The partner.
    pub organization_id: String,
    /// What happened.
    pub action: String,
    /// `file` or `transaction`.
    pub kind: String,
    /// `sent` or `received`, as the partner sees it.
    pub direction: String,
    /// The kind of thing it is about.
    pub resource_type: Option<String>,
    /// Which one.
    pub resource_id: Option<String>,
    /// The file's name.
    pub filename: Option<String>,
    /// Its size in bytes.
    pub size: Option<i64>,
    /// The EDI document type.
    pub document_type: Option<String>,
    /// `ok` or `error` (transactions).
    pub status: Option<String>,
    /// `sent`, `received` or `error`.
    pub folder: Option<String>,
    /// When it happened.
    #[serde(serialize_with = "domain::time::micros")]
    pub at: DateTime<Utc>,
    /// Who recorded it (a user id, `api-key:<id>`).
    pub actor_id: Option<String>,
}

/// What to list of a partner's records.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Only these kinds (`file`, `transaction`); the caller's rights decide which.
    pub kinds: Vec<String>,
    /// This action.
    pub action: Option<String>,
    /// This status.
    pub status: Option<String>,
    /// This folder.
    pub folder: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Where the previous page ended (a position).
    pub cursor: Option<String>,
    /// Page size (default 50, at most 200).
    pub limit: Option<u32>,
}

/// One day of transactions.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TransactionDay {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Sent by the partner(s).
    pub sent: i64,
    /// Received by the partner(s).
    pub received: i64,
    /// Of those, failed.
    pub failed: i64,
}

/// Transaction figures over a window: one partner's, or everyone's.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct TransactionFigures {
    /// The window, in days, ending today.
    pub days: u32,
    /// Transactions sent.
    pub sent: i64,
    /// Transactions received.
    pub received: i64,
    /// Transactions that went through.
    pub ok: i64,
    /// Transactions that failed.
    pub failed: i64,
    /// `ok` over all transactions (absent without any).
    pub success_rate: Option<f64>,
    /// Files the partner(s) sent (uploaded); absent for who may not read file transfers.
    pub files_sent: Option<i64>,
    /// Files the partner(s) received (downloaded); absent likewise.
    pub files_received: Option<i64>,
    /// Each day of the window, oldest first.
    pub daily: Vec<TransactionDay>,
}

impl TransactionFigures {
    /// Leaves the file counts out (for who may not read file transfers).
    pub fn hide_files(&mut self) {
        self.files_sent = None;
        self.files_received = None;
    }
}

/// One partner's line in the figures across partners.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PartnerLine {
    /// The partner.
    pub organization_id: String,
    /// Its name, as the directory has it.
    pub name: Option<String>,
    /// Its partner code.
    pub partner_code: Option<String>,
    /// Transactions sent.
    pub sent: i64,
    /// Transactions received.
    pub received: i64,
    /// Transactions failed.
    pub failed: i64,
}

impl PartnerLine {
    /// Transactions that went through over all of them (none without any).
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.sent + self.received;
        (total > 0).then(|| (total - self.failed) as f64 / total as f64)
    }
}

impl Queries {
    /// One partner's records, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn partner_records(
        &self,
        organization: &str,
        filter: &RecordFilter,
    ) -> Result<Page<PartnerRecordRow>, QueryError> {
        let limit = limit_of(filter.limit)?;
        let records = self.view("partner_records");
        let mut binds = Binds::default();
        let mut conditions = vec![format!("organization_id = {}", binds.push(organization))];
        conditions.push(binds.one_of("kind", &filter.kinds));
        for (column, value) in [
            ("action", &filter.action),
            ("status", &filter.status),
            ("folder", &filter.folder),
        ] {
            if let Some(value) = value {
                conditions.push(format!("{column} = {}", binds.push(value.clone())));
            }
        }
        if let Some(from) = filter.from {
            conditions.push(format!("at >= {}", binds.push(from)));
        }
        if let Some(to) = filter.to {
            conditions.push(format!("at < {}", binds.push(to)));
        }
        if let Some(cursor) = &filter.cursor {
            let position: i64 = cursor
                .parse()
                .map_err(|_| QueryError::Invalid("cursor: not one this list gave".into()))?;
            conditions.push(format!("position < {}", binds.push(position)));
        }
        let statement = format!(
            "SELECT position, record_id, organization_id, action, kind, direction, resource_type, \
             resource_id, filename, size, document_type, status, folder, at, actor_id \
             FROM {records} WHERE {} ORDER BY position DESC LIMIT {}",
            conditions.join(" AND "),
            binds.push(limit + 1)
        );
        let rows: Vec<PartnerRecordRow> =
            sql::fetch_all(&self.database, &statement, &binds.args).await?;
        Ok(super::activity::page_of(rows, limit, |row| row.position))
    }

    /// Transaction figures over the last `days` days: across partners, or summed over
    /// `scope`'s.
    #[tracing::instrument(skip(self))]
    pub async fn transaction_figures(
        &self,
        days: u32,
        scope: Option<&[String]>,
    ) -> Result<TransactionFigures, QueryError> {
        let daily = self.view("partner_daily");
        let today = Utc::now().date_naive();
        let first_day = super::window_start(today, days);
        let mut binds = Binds::default();
        let mut conditions = vec![
            format!("day >= {}", binds.push(first_day)),
            format!("day <= {}", binds.push(today)),
        ];
        if let Some(scope) = scope {
            conditions.push(binds.one_of("organization_id", scope));
        }
        let rows: Vec<(NaiveDate, String, String, String, i64)> = sql::fetch_all(
            &self.database,
            &format!(
                "SELECT day, kind, direction, status, CAST(SUM(n) AS BIGINT) FROM {daily} \
                 WHERE {} GROUP BY day, kind, direction, status",
                conditions.join(" AND ")
            ),
            &binds.args,
        )
        .await?;
        let mut figures = TransactionFigures {
            days,
            files_sent: Some(0),
            files_received: Some(0),
            ..TransactionFigures::default()
        };
        let mut by_day: BTreeMap<NaiveDate, TransactionDay> = first_day
            .iter_days()
            .take_while(|day| *day <= today)
            .map(|day| {
                (
                    day,
                    TransactionDay {
                        day,
                        ..TransactionDay::default()
                    },
                )
            })
            .collect();
        for (day, kind, direction, status, n) in rows {
            let sent = direction == "sent";
            if kind != "transaction" {
                let files = if sent {
                    &mut figures.files_sent
                } else {
                    &mut figures.files_received
                };
                *files = Some(files.unwrap_or(0) + n);
                continue;
            }
            let line = by_day.entry(day).or_insert_with(|| TransactionDay {
                day,
                ..TransactionDay::default()
            });
            if sent {
                figures.sent += n;
                line.sent += n;
            } else {
                figures.received += n;
                line.received += n;
            }
            if status == "error" {
                figures.failed += n;
                line.failed += n;
            } else {
                figures.ok += n;
            }
        }
        let total = figures.ok + figures.failed;
        figures.success_rate = (total > 0).then(|| figures.ok as f64 / total as f64);
        figures.daily = by_day.into_values().collect();
        Ok(figures)
    }

    /// Each partner's transactions over the last `days` days, busiest first (within `scope`'s
    /// organizations, if given).
    #[tracing::instrument(skip(self))]
    pub async fn partner_lines(
        &self,
        days: u32,
        scope: Option<&[String]>,
    ) -> Result<Vec<PartnerLine>, QueryError> {
        let daily = self.view("partner_daily");
        let organizations = self.view("organizations");
        let first_day = super::window_start(Utc::now().date_naive(), days);
        let mut binds = Binds::default();
        let mut conditions = vec![
            format!("d.day >= {}", binds.push(first_day)),
            "d.kind = 'transaction'".to_owned(),
        ];
        if let Some(scope) = scope {
            conditions.push(binds.one_of("d.organization_id", scope));
        }
        let statement = format!(
            "SELECT d.organization_id, o.name, o.partner_code, \
             CAST(SUM(CASE WHEN d.direction = 'sent' THEN d.n ELSE 0 END) AS BIGINT) AS sent, \
             CAST(SUM(CASE WHEN d.direction = 'received' THEN d.n ELSE 0 END) AS BIGINT) AS received, \
             CAST(SUM(CASE WHEN d.status = 'error' THEN d.n ELSE 0 END) AS BIGINT) AS failed \
             FROM {daily} d LEFT JOIN {organizations} o ON o.organization_id = d.organization_id \
             WHERE {} GROUP BY d.organization_id, o.name, o.partner_code \
             ORDER BY SUM(d.n) DESC, d.organization_id",
            conditions.join(" AND ")
        );
        Ok(sql::fetch_all(&self.database, &statement, &binds.args).await?)
    }
}
