//! Analytics: the dashboard, daily series and the verification funnel.

use super::{Binds, Queries, QueryError};
use chrono::{NaiveDate, Utc};
use eventstore::sql::{self, Arg};
use serde::Serialize;
use std::collections::BTreeMap;

/// The dashboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// The window, in days, ending today.
    pub days: u32,
    /// Users by status (now).
    pub users_by_status: BTreeMap<String, i64>,
    /// Users by global role (now; deleted users left out).
    pub users_by_role: BTreeMap<String, i64>,
    /// Organizations by status (now).
    pub organizations_by_status: BTreeMap<String, i64>,
    /// Sums of each metric over the window.
    pub window: BTreeMap<String, i64>,
    /// Successful logins over all login attempts in the window (absent without attempts).
    pub login_success_rate: Option<f64>,
    /// Distinct active users today.
    pub daily_active_users: i64,
    /// Distinct active users over the last 30 days.
    pub monthly_active_users: i64,
}

/// One day of a metric.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DailyPoint {
    /// The day (UTC).
    pub day: NaiveDate,
    /// The value.
    pub value: i64,
}

/// The verification funnel (users not deleted).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Funnel {
    /// Registered.
    pub registered: i64,
    /// Email verified.
    pub email_verified: i64,
    /// Phone verified.
    pub phone_verified: i64,
    /// Both.
    pub both_verified: i64,
}

/// `active_users` is a daily series too: distinct users per day.
pub const ACTIVE_USERS: &str = "active_users";

impl Queries {
    /// The dashboard over the last `days` days, for everyone or one organization's members.
    #[tracing::instrument(skip(self))]
    pub async fn dashboard(
        &self,
        days: u32,
        organization: Option<&str>,
    ) -> Result<Dashboard, QueryError> {
        let users = self.view("users");
        let roles = self.view("user_roles");
        let members = self.view("members");
        let organizations = self.view("organizations");
        let daily = self.view("daily");
        let today = Utc::now().date_naive();
        let first_day = super::window_start(today, days);
        let month_start = today - chrono::Days::new(29);
        let mut binds = Binds::default();
        let now = binds.push(Utc::now());
        let status = Self::status_sql(&now);
        let member_join = match organization {
            Some(id) => format!(
                " JOIN {members} m ON m.user_id = u.user_id AND m.organization_id = {}",
                binds.push(id)
            ),
            None => String::new(),
        };
        let by_status: Vec<(String, i64)> = sql::fetch_all(
            &self.database,
            &format!("SELECT {status} AS s, count(*) FROM {users} u{member_join} GROUP BY s"),
            &binds.args,
        )
        .await?;
        let mut role_binds = Binds::default();
        let role_scope = match organization {
            Some(id) => format!(
                " JOIN {members} m ON m.user_id = u.user_id AND m.organization_id = {}",
                role_binds.push(id)
            ),
            None => String::new(),
        };
        let by_role: Vec<(String, i64)> = sql::fetch_all(
            &self.database,
            &format!(
                "SELECT r.role, count(*) FROM {roles} r JOIN {users} u ON u.user_id = r.user_id{role_scope} \
                 WHERE u.status NOT IN ('deleted', 'forgotten') GROUP BY r.role"
            ),
            &role_binds.args,
        )
        .await?;
        let organizations_by_status: Vec<(String, i64)> = match organization {
            Some(id) => {
                sql::fetch_all(
                    &self.database,
                    &format!("SELECT status, count(*) FROM {organizations} WHERE organization_id = $1 GROUP BY status"),
                    &[id.into()],
                )
                .await?
            }
            None => {
                sql::fetch_all(
                    &self.database,
                    &format!("SELECT status, count(*) FROM {organizations} GROUP BY status"),
                    &[],
                )
                .await?
            }
        };
        let mut window_binds = Binds::default();
        let from = window_binds.push(first_day);
        let scope = match organization {
            Some(id) => format!(
                " AND d.user_id IN (SELECT user_id FROM {members} WHERE organization_id = {})",
                window_binds.push(id)
            ),
            None => String::new(),
        };
        let sums: Vec<(String, i64)> = sql::fetch_all(
            &self.database,
            &format!(
                "SELECT d.metric, CAST(sum(d.n) AS BIGINT) FROM {daily} d WHERE d.day >= {from}{scope} AND d.metric <> 'active' GROUP BY d.metric"
            ),
            &window_binds.args,
        )
        .await?;
        let mut window: BTreeMap<String, i64> = crate::analytics::METRICS
            .iter()
            .filter(|m| **m != "active")
            .map(|m| ((*m).to_owned(), 0))
            .collect();
        window.extend(sums);
        let logins = window.get("logins").copied().unwrap_or(0);
        let failed = window.get("failed_logins").copied().unwrap_or(0);
        let login_success_rate =
            (logins + failed > 0).then(|| logins as f64 / (logins + failed) as f64);
        let distinct_since = |since: NaiveDate| {
            let mut binds = Binds::default();
            let from = binds.push(since);
            let scope = match organization {
                Some(id) => format!(
                    " AND d.user_id IN (SELECT user_id FROM {members} WHERE organization_id = {})",
                    binds.push(id)
                ),
                None => String::new(),
            };
            (
                format!(
                    "SELECT count(DISTINCT d.user_id) FROM {daily} d WHERE d.metric = 'active' AND d.day >= {from}{scope}"
                ),
                binds.args,
            )
        };
        let (dau_sql, dau_args) = distinct_since(today);
        let (mau_sql, mau_args) = distinct_since(month_start);
        let dau: Vec<(i64,)> = sql::fetch_all(&self.database, &dau_sql, &dau_args).await?;
        let mau: Vec<(i64,)> = sql::fetch_all(&self.database, &mau_sql, &mau_args).await?;
        Ok(Dashboard {
            days,
            users_by_status: by_status.into_iter().collect(),
            users_by_role: by_role.into_iter().collect(),
            organizations_by_status: organizations_by_status.into_iter().collect(),
            window,
            login_success_rate,
            daily_active_users: dau.first().map_or(0, |(n,)| *n),
            monthly_active_users: mau.first().map_or(0, |(n,)| *n),
        })
    }

    /// One metric per day from `from` to `to` (inclusive), zeros included.
    #[tracing::instrument(skip(self))]
    pub async fn daily(
        &self,
        metric: &str,
        from: NaiveDate,
        to: NaiveDate,
        organization: Option<&str>,
    ) -> Result<Vec<DailyPoint>, QueryError> {
        let known = crate::analytics::METRICS
            .iter()
            .any(|m| *m == metric && *m != "active")
            || metric == ACTIVE_USERS;
        if !known {
            return Err(QueryError::Invalid(format!(
                "unknown metric {metric:?}; known: {}, {ACTIVE_USERS}",
                crate::analytics::METRICS
                    .iter()
                    .filter(|m| **m != "active")
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if to < from || (to - from).num_days() > 3660 {
            return Err(QueryError::Invalid(
                "`to` must be on or after `from`, at most ten years later".into(),
            ));
        }
        let daily = self.view("daily");
        let members = self.view("members");
        let mut binds = Binds::default();
        let (value, stored_metric) = if metric == ACTIVE_USERS {
            ("count(DISTINCT d.user_id)", "active")
        } else {
            ("CAST(sum(d.n) AS BIGINT)", metric)
        };
        let metric_bind = binds.push(stored_metric);
        let from_bind = binds.push(from);
        let to_bind = binds.push(to);
        let scope = match organization {
            Some(id) => format!(
                " AND d.user_id IN (SELECT user_id FROM {members} WHERE organization_id = {})",
                binds.push(id)
            ),
            None => String::new(),
        };
        let rows: Vec<(NaiveDate, i64)> = sql::fetch_all(
            &self.database,
            &format!(
                "SELECT d.day, {value} FROM {daily} d WHERE d.metric = {metric_bind} AND d.day >= {from_bind} AND d.day <= {to_bind}{scope} GROUP BY d.day"
            ),
            &binds.args,
        )
        .await?;
        let values: BTreeMap<NaiveDate, i64> = rows.into_iter().collect();
        Ok(from
            .iter_days()
            .take_while(|day| *day <= to)
            .map(|day| DailyPoint {
                day,
                value: values.get(&day).copied().unwrap_or(0),
            })
            .collect())
    }

    /// The verification funnel of users not deleted (one organization's members, if given).
    #[tracing::instrument(skip(self))]
    pub async fn funnel(&self, organization: Option<&str>) -> Result<Funnel, QueryError> {
        let users = self.view("users");
        let members = self.view("members");
        let (scope, args): (String, Vec<Arg>) = match organization {
            Some(id) => (
                format!(
                    " AND u.user_id IN (SELECT user_id FROM {members} WHERE organization_id = $1)"
                ),
                vec![id.into()],
            ),
            None => (String::new(), Vec::new()),
        };
        let rows: Vec<Funnel> = sql::fetch_all(
            &self.database,
            &format!(
                "SELECT count(*) AS registered, \
                 CAST(COALESCE(sum(CASE WHEN u.email_verified_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS email_verified, \
                 CAST(COALESCE(sum(CASE WHEN u.phone_verified_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS phone_verified, \
                 CAST(COALESCE(sum(CASE WHEN u.email_verified_at IS NOT NULL AND u.phone_verified_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS both_verified \
                 FROM {users} u WHERE u.status NOT IN ('deleted', 'forgotten'){scope}"
            ),
            &args,
        )
        .await?;
        rows.into_iter()
            .next()
            .ok_or_else(|| QueryError::Invalid("no funnel".into()))
    }
}
