//! Queries over the read models' stable views: filters, sorting and keyset pagination.
//!
//! Statements are built from fixed fragments; every value the caller gives is bound, never
//! spliced into the text.

use crate::activity::ActivityRow;
use crate::directory::UserRow;
use crate::names::Names;
use crate::sessions::SessionRow;
use chrono::{DateTime, NaiveDate, Utc};
use eventstore::Database;
use eventstore::sql::{self, Arg, Dialect, placeholders};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter cannot be used (a malformed cursor, an unknown metric).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("read models: {0}")]
    Database(#[from] sqlx::Error),
}

/// The largest page.
pub const MAX_LIMIT: u32 = 200;

/// Totals are exact up to this many matches.
pub const TOTAL_CAP: u64 = 10_000;

/// Read-model queries.
#[derive(Debug, Clone)]
pub struct Queries {
    database: Database,
    names: Names,
    dialect: Dialect,
}

/// A page of results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// How many items match in all, counted up to 10,000 (users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// False when more than 10,000 match and `total` stopped counting at 10,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_exact: Option<bool>,
}

/// A user's status as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListedStatus {
    /// May log in.
    Active,
    /// Deactivated.
    Inactive,
    /// Locked now.
    Locked,
    /// Deleted.
    Deleted,
    /// Forgotten: their personal data is erased.
    Forgotten,
}

/// How users are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserSort {
    /// By creation time (the default).
    #[default]
    Created,
    /// By last login (never logged in sorts as oldest).
    LastLogin,
    /// By email address.
    Email,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending (the default: newest first).
    #[default]
    Desc,
}

/// Filters for the users list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Holds this global role.
    pub role: Option<String>,
    /// In this state (default: all but deleted).
    pub status: Option<ListedStatus>,
    /// A member of this organization.
    pub organization: Option<String>,
    /// `not_verified`, `email_verified`, `phone_verified` or `both_verified`.
    pub verification: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Last logged in at or after.
    pub last_login_from: Option<DateTime<Utc>>,
    /// Last logged in before.
    pub last_login_to: Option<DateTime<Utc>>,
    /// Part of the email, username or names (case-insensitive).
    pub q: Option<String>,
    /// Sort key.
    #[serde(default)]
    pub sort: UserSort,
    /// Sort direction.
    #[serde(default)]
    pub order: Order,
    /// Where the previous page ended.
    #[schema(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size (default 50, at most 200).
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Answer only once the read models have applied this log position (a command's
    /// `X-Log-Position`): read-your-writes. The query itself ignores it.
    pub min_position: Option<u64>,
}

/// A user as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListedUser {
    /// Id.
    pub id: String,
    /// Email (none once the user was forgotten).
    pub email: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Global roles.
    pub roles: Vec<String>,
    /// Memberships.
    pub organizations: Vec<ListedMembership>,
    /// `active`, `inactive`, `locked` or `deleted`.
    pub status: ListedStatus,
    /// Verification status.
    pub verification_status: String,
    /// When the email was verified.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// When the phone was verified.
    pub phone_verified_at: Option<DateTime<Utc>>,
    /// When a lock ends, while locked.
    pub locked_until: Option<DateTime<Utc>>,
    /// Consecutive failed logins.
    pub failed_attempts: i64,
    /// Whether TOTP is on.
    pub mfa_enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Last login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Address of the last login.
    pub last_login_ip: Option<String>,
    /// Device of the last login.
    pub last_login_device: Option<String>,
}

/// A membership as listed with a user.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListedMembership {
    /// The organization.
    pub organization_id: String,
    /// The role in it.
    pub role: String,
    #[serde(skip)]
    user_id: String,
}

/// An organization as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListedOrganization {
    /// Id.
    pub organization_id: String,
    /// Unique name.
    pub name: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Contact name.
    pub contact_name: Option<String>,
    /// Contact email.
    pub contact_email: Option<String>,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// Status.
    pub status: String,
    /// Members.
    pub member_count: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A member of an organization as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListedMember {
    /// The user.
    pub user_id: String,
    /// Their email.
    pub email: Option<String>,
    /// Their role in the organization.
    pub role: String,
    /// Their permission flags.
    #[schema(value_type = Vec<String>)]
    pub permissions: sqlx::types::Json<Vec<String>>,
    /// Added.
    pub added_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Filters for the activity log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityFilter {
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Done by.
    pub actor: Option<String>,
    /// Concerning this user.
    pub user: Option<String>,
    /// This event type.
    pub action: Option<String>,
    /// This resource (a stream id).
    pub resource: Option<String>,
    /// Concerning this organization.
    pub organization: Option<String>,
    /// Where the previous page ended (a position).
    pub cursor: Option<String>,
    /// Page size (default 50, at most 200; exports ignore it).
    pub limit: Option<u32>,
    /// Answer only once the read models have applied this log position.
    pub min_position: Option<u64>,
    /// Only rows about these organizations or their members (an org_admin's view); set by the
    /// server, never by the client.
    #[serde(skip)]
    #[schema(ignore)]
    pub scope: Option<Vec<String>>,
}

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

/// Reads a cursor's sort value back as a bound argument.
type CursorValue = fn(&str) -> Result<Arg, QueryError>;

/// A page size: 50 unless given, 1 to [`MAX_LIMIT`].
fn limit_of(limit: Option<u32>) -> Result<i64, QueryError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::Invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    Ok(i64::from(limit))
}

/// Binds arguments in order, numbering their placeholders.
#[derive(Default)]
struct Binds {
    args: Vec<Arg>,
}

impl Binds {
    fn push(&mut self, arg: impl Into<Arg>) -> String {
        self.args.push(arg.into());
        format!("${}", self.args.len())
    }
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// A cursor: the last row's sort value and id, opaque to clients.
fn encode_cursor(value: &str, id: &str) -> String {
    hex::encode(format!("{value}\u{1f}{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), QueryError> {
    let invalid = || QueryError::Invalid("the cursor is not one this server gave out".into());
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (value, id) = text.split_once('\u{1f}').ok_or_else(invalid)?;
    Ok((value.to_owned(), id.to_owned()))
}

impl Queries {
    /// Queries over `database`.
    pub fn new(database: Database) -> Self {
        let dialect = Dialect::of(&database);
        Self {
            database,
            names: Names::new(dialect),
            dialect,
        }
    }

    fn view(&self, name: &str) -> String {
        self.names.view(name)
    }

    /// Backslash escapes `%` and `_` in LIKE patterns: PostgreSQL's default (and a plain
    /// `LIKE $1` keeps its trigram index usable), SQLite's only when asked.
    fn like_escape(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => "",
            Dialect::Sqlite => " ESCAPE '\\'",
        }
    }

    /// The status expression of a users row `u`, as of `$now`.
    fn status_sql(now: &str) -> String {
        format!(
            "CASE WHEN u.status IN ('deleted', 'forgotten') THEN u.status WHEN u.status = 'inactive' THEN 'inactive' \
             WHEN u.locked AND (u.locked_until IS NULL OR u.locked_until > {now}) THEN 'locked' ELSE 'active' END"
        )
    }

    /// Users matching `filter`; `scope` limits them to members of these organizations (an
    /// org_admin's view).
    #[tracing::instrument(skip(self))]
    pub async fn users(
        &self,
        filter: &UserFilter,
        scope: Option<&[String]>,
    ) -> Result<Page<ListedUser>, QueryError> {
        let users = self.view("users");
        let roles = self.view("user_roles");
        let members = self.view("members");
        let mut binds = Binds::default();
        let now = binds.push(Utc::now());
        let status = Self::status_sql(&now);
        let mut conditions: Vec<String> = Vec::new();
        // Each status as plain column conditions (what the CASE above says), so indexes serve.
        let locked_now = format!("u.locked AND (u.locked_until IS NULL OR u.locked_until > {now})");
        conditions.push(match filter.status {
            None => "u.status NOT IN ('deleted', 'forgotten')".into(),
            Some(ListedStatus::Deleted) => "u.status = 'deleted'".into(),
            Some(ListedStatus::Forgotten) => "u.status = 'forgotten'".into(),
            Some(ListedStatus::Inactive) => "u.status = 'inactive'".into(),
            Some(ListedStatus::Locked) => format!("u.status = 'active' AND {locked_now}"),
            Some(ListedStatus::Active) => format!("u.status = 'active' AND NOT ({locked_now})"),
        });
        if let Some(role) = &filter.role {
            let value = binds.push(role.clone());
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM {roles} r WHERE r.user_id = u.user_id AND r.role = {value})"
            ));
        }
        if let Some(organization) = &filter.organization {
            let value = binds.push(organization.clone());
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM {members} m WHERE m.user_id = u.user_id AND m.organization_id = {value})"
            ));
        }
        if let Some(scope) = scope {
            let list: Vec<String> = scope.iter().map(|id| binds.push(id.clone())).collect();
            if list.is_empty() {
                conditions.push("1 = 0".into());
            } else {
                conditions.push(format!(
                    "EXISTS (SELECT 1 FROM {members} m WHERE m.user_id = u.user_id AND m.organization_id IN ({}))",
                    list.join(", ")
                ));
            }
        }
        if let Some(verification) = &filter.verification {
            if !crate::directory::VERIFICATION_STATUSES.contains(&verification.as_str()) {
                return Err(QueryError::Invalid(format!(
                    "verification: one of {}",
                    crate::directory::VERIFICATION_STATUSES.join(", ")
                )));
            }
            let value = binds.push(verification.clone());
            conditions.push(format!("u.verification = {value}"));
        }
        for (column, from, to) in [
            ("u.created_at", filter.created_from, filter.created_to),
            (
                "u.last_login_at",
                filter.last_login_from,
                filter.last_login_to,
            ),
        ] {
            if let Some(from) = from {
                let value = binds.push(from);
                conditions.push(format!("{column} >= {value}"));
            }
            if let Some(to) = to {
                let value = binds.push(to);
                conditions.push(format!("{column} < {value}"));
            }
        }
        if let Some(q) = search_text(filter.q.as_deref())? {
            let value = binds.push(escape_like(q));
            conditions.push(format!("u.search LIKE {value}{}", self.like_escape()));
        }
        let where_clause = conditions.join(" AND ");
        // Counting a million rows costs more than the page: exact up to TOTAL_CAP, then "more".
        let count_sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {users} u WHERE {where_clause} LIMIT {}) capped",
            TOTAL_CAP + 1
        );
        let count_args = binds.args.clone();
        let (key, key_arg): (&str, CursorValue) = match filter.sort {
            UserSort::Created => ("u.created_at", time_arg),
            UserSort::LastLogin => ("u.last_login_at", time_arg),
            UserSort::Email => ("u.email", |text| Ok(Arg::from(text))),
        };
        // Never-logged-in users sort as the oldest logins.
        let key_expr = if filter.sort == UserSort::LastLogin {
            let epoch = binds.push(DateTime::<Utc>::UNIX_EPOCH);
            format!("COALESCE({key}, {epoch})")
        } else {
            key.to_owned()
        };
        let (comparison, direction) = match filter.order {
            Order::Asc => (">", "ASC"),
            Order::Desc => ("<", "DESC"),
        };
        let mut page_conditions = vec![where_clause];
        if let Some(cursor) = &filter.cursor {
            let (value, id) = decode_cursor(cursor)?;
            let value = binds.push(key_arg(&value)?);
            let id = binds.push(id);
            page_conditions.push(format!(
                "({key_expr} {comparison} {value} OR ({key_expr} = {value} AND u.user_id {comparison} {id}))"
            ));
        }
        let limit = limit_of(filter.limit)?;
        let limit_bind = binds.push(limit + 1);
        let select = format!(
            "{} {} ORDER BY {key_expr} {direction}, u.user_id {direction} LIMIT {limit_bind}",
            user_select(&status, &users),
            page_conditions.join(" AND ")
        );
        let mut rows: Vec<UserRow> = sql::fetch_all(&self.database, &select, &binds.args).await?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            rows.last().map(|row| {
                let value = match filter.sort {
                    UserSort::Created => time_text(row.created_at),
                    UserSort::LastLogin => {
                        time_text(row.last_login_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH))
                    }
                    UserSort::Email => row.email.clone(),
                };
                encode_cursor(&value, &row.user_id)
            })
        } else {
            None
        };
        let total: Vec<(i64,)> = sql::fetch_all(&self.database, &count_sql, &count_args).await?;
        let ids: Vec<Arg> = rows.iter().map(|r| Arg::from(r.user_id.as_str())).collect();
        let mut memberships: BTreeMap<String, Vec<ListedMembership>> = BTreeMap::new();
        if !ids.is_empty() {
            let sql = format!(
                "SELECT organization_id, role, user_id FROM {members} WHERE user_id IN {} ORDER BY organization_id",
                placeholders(1, ids.len())
            );
            for membership in sql::fetch_all::<ListedMembership>(&self.database, &sql, &ids).await?
            {
                memberships
                    .entry(membership.user_id.clone())
                    .or_default()
                    .push(membership);
            }
        }
        let items = rows
            .into_iter()
            .map(|row| {
                let organizations = memberships.remove(&row.user_id).unwrap_or_default();
                listed_user(row, organizations)
            })
            .collect();
        Ok(Page {
            items,
            next_cursor,
            total: total
                .first()
                .and_then(|(n,)| u64::try_from(*n).ok())
                .map(|n| n.min(TOTAL_CAP)),
            total_exact: Some(
                total
                    .first()
                    .and_then(|(n,)| u64::try_from(*n).ok())
                    .is_some_and(|n| n <= TOTAL_CAP),
            ),
        })
    }

    /// One user's directory row, if the directory has it.
    pub async fn user(&self, user_id: &str) -> Result<Option<ListedUser>, QueryError> {
        let users = self.view("users");
        let members = self.view("members");
        let mut binds = Binds::default();
        let now = binds.push(Utc::now());
        let id = binds.push(user_id);
        let status = Self::status_sql(&now);
        let select = format!("{} u.user_id = {id}", user_select(&status, &users));
        let Some(row) =
            sql::fetch_optional::<UserRow>(&self.database, &select, &binds.args).await?
        else {
            return Ok(None);
        };
        let organizations = sql::fetch_all::<ListedMembership>(
            &self.database,
            &format!("SELECT organization_id, role, user_id FROM {members} WHERE user_id = $1 ORDER BY organization_id"),
            &[user_id.into()],
        )
        .await?;
        Ok(Some(listed_user(row, organizations)))
    }

    /// A user's sessions, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRow>, QueryError> {
        let sessions = self.view("sessions");
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT {} FROM {sessions} WHERE user_id = $1 ORDER BY started_at DESC, session_id DESC",
                crate::sessions::columns()
            ),
            &[user_id.into()],
        )
        .await?)
    }

    /// Sessions the log still shows open that are past their idle timeout or absolute
    /// lifetime at `now` (unusable already; `idlog maintenance expire-sessions` records it).
    #[tracing::instrument(skip(self))]
    pub async fn lapsed_sessions(&self, now: DateTime<Utc>) -> Result<Vec<SessionRow>, QueryError> {
        let sessions = self.view("sessions");
        let open: Vec<SessionRow> = sql::fetch_all(
            &self.database,
            &format!(
                "SELECT {} FROM {sessions} WHERE status = 'active' ORDER BY started_at, session_id",
                crate::sessions::columns()
            ),
            &[],
        )
        .await?;
        Ok(open
            .into_iter()
            .filter(|session| {
                let idle = chrono::TimeDelta::seconds(session.idle_timeout_seconds);
                now >= session.expires_at || now >= session.last_used_at + idle
            })
            .collect())
    }

    fn activity_sql(
        &self,
        filter: &ActivityFilter,
        limit: Option<i64>,
    ) -> Result<(String, Vec<Arg>), QueryError> {
        let activity = self.view("activity");
        let mut binds = Binds::default();
        let mut conditions = vec!["1 = 1".to_owned()];
        if let Some(from) = filter.from {
            conditions.push(format!("at >= {}", binds.push(from)));
        }
        if let Some(to) = filter.to {
            conditions.push(format!("at < {}", binds.push(to)));
        }
        for (column, value) in [
            ("actor_id", &filter.actor),
            ("subject_user_id", &filter.user),
            ("action", &filter.action),
            ("resource_id", &filter.resource),
            ("organization_id", &filter.organization),
        ] {
            if let Some(value) = value {
                conditions.push(format!("{column} = {}", binds.push(value.clone())));
            }
        }
        if let Some(scope) = &filter.scope {
            let members = self.view("members");
            let list: Vec<String> = scope.iter().map(|id| binds.push(id.clone())).collect();
            if list.is_empty() {
                conditions.push("1 = 0".into());
            } else {
                let list = list.join(", ");
                conditions.push(format!(
                    "(organization_id IN ({list}) OR subject_user_id IN (SELECT user_id FROM {members} WHERE organization_id IN ({list})))"
                ));
            }
        }
        if let Some(cursor) = &filter.cursor {
            let position: i64 = cursor.parse().map_err(|_| {
                QueryError::Invalid("the cursor is not one this server gave out".into())
            })?;
            conditions.push(format!("position < {}", binds.push(position)));
        }
        let limit = match limit {
            Some(limit) => format!(" LIMIT {}", binds.push(limit)),
            None => String::new(),
        };
        Ok((
            format!(
                "SELECT {} FROM {activity} WHERE {} ORDER BY position DESC{limit}",
                crate::activity::columns(),
                conditions.join(" AND ")
            ),
            binds.args,
        ))
    }

    /// A page of the activity log, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn activity(&self, filter: &ActivityFilter) -> Result<Page<ActivityRow>, QueryError> {
        let limit = limit_of(filter.limit)?;
        let (sql, args) = self.activity_sql(filter, Some(limit + 1))?;
        let mut rows: Vec<ActivityRow> = sql::fetch_all(&self.database, &sql, &args).await?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = more
            .then(|| rows.last().map(|row| row.position.to_string()))
            .flatten();
        Ok(Page {
            items: rows,
            next_cursor,
            total: None,
            total_exact: None,
        })
    }

    /// The whole activity log matching `filter`, newest first, page by page (exports): memory
    /// stays flat whatever the log's size.
    pub fn activity_export(
        &self,
        filter: ActivityFilter,
    ) -> impl futures::Stream<Item = Result<Vec<ActivityRow>, QueryError>> + Send + 'static {
        let queries = self.clone();
        let first = ActivityFilter {
            limit: Some(MAX_LIMIT),
            ..filter
        };
        futures::stream::try_unfold(Some(first), move |next| {
            let queries = queries.clone();
            async move {
                let Some(filter) = next else {
                    return Ok(None);
                };
                let page = queries.activity(&filter).await?;
                let following = page.next_cursor.map(|cursor| ActivityFilter {
                    cursor: Some(cursor),
                    ..filter
                });
                Ok(Some((page.items, following)))
            }
        })
    }

    /// Deletes activity rows recorded before `before`; returns how many. The log keeps them.
    pub async fn prune_activity(&self, before: DateTime<Utc>) -> Result<u64, QueryError> {
        // Rows live in the generation tables; the view is not writable on every database.
        let generation: Vec<(String,)> = sql::fetch_all(
            &self.database,
            "SELECT generation FROM projection_checkpoints WHERE name = $1",
            &[crate::activity::NAME.into()],
        )
        .await?;
        let Some((generation,)) = generation.into_iter().next() else {
            return Ok(0);
        };
        let table = self.names.table("activity", &generation);
        Ok(sql::execute(
            &self.database,
            &format!("DELETE FROM {table} WHERE at < $1"),
            &[before.into()],
        )
        .await?)
    }

    /// Organizations, by name.
    #[tracing::instrument(skip(self))]
    pub async fn organizations(
        &self,
        status: Option<&str>,
        q: Option<&str>,
        scope: Option<&[String]>,
    ) -> Result<Vec<ListedOrganization>, QueryError> {
        let organizations = self.view("organizations");
        let members = self.view("members");
        let mut binds = Binds::default();
        let mut conditions = vec!["1 = 1".to_owned()];
        if let Some(status) = status {
            conditions.push(format!("o.status = {}", binds.push(status)));
        }
        if let Some(q) = search_text(q)? {
            let value = binds.push(escape_like(q));
            conditions.push(format!(
                "(lower(o.name) LIKE {value}{escape} OR lower(COALESCE(o.display_name, '')) LIKE {value}{escape})",
                escape = self.like_escape()
            ));
        }
        if let Some(scope) = scope {
            let list: Vec<String> = scope.iter().map(|id| binds.push(id.clone())).collect();
            if list.is_empty() {
                conditions.push("1 = 0".into());
            } else {
                conditions.push(format!("o.organization_id IN ({})", list.join(", ")));
            }
        }
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT o.organization_id, o.name, o.display_name, o.contact_name, o.contact_email, o.contact_phone, o.status, \
                 (SELECT count(*) FROM {members} m WHERE m.organization_id = o.organization_id) AS member_count, \
                 o.created_at, o.updated_at FROM {organizations} o WHERE {} ORDER BY o.name LIMIT 1000",
                conditions.join(" AND ")
            ),
            &binds.args,
        )
        .await?)
    }

    /// An organization's members, with their emails.
    #[tracing::instrument(skip(self))]
    pub async fn members(&self, organization_id: &str) -> Result<Vec<ListedMember>, QueryError> {
        let members = self.view("members");
        let users = self.view("users");
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT m.user_id, u.email, m.role, m.permissions, m.added_at, m.updated_at FROM {members} m \
                 LEFT JOIN {users} u ON u.user_id = m.user_id WHERE m.organization_id = $1 ORDER BY m.added_at, m.user_id"
            ),
            &[organization_id.into()],
        )
        .await?)
    }

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
        let first_day = today - chrono::Days::new(u64::from(days.saturating_sub(1)));
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

    /// The ids of every user not deleted (who should have a storage folder).
    #[tracing::instrument(skip(self))]
    pub async fn live_user_ids(&self) -> Result<std::collections::BTreeSet<String>, QueryError> {
        let users = self.view("users");
        let rows: Vec<(String,)> = sql::fetch_all(
            &self.database,
            &format!("SELECT user_id FROM {users} WHERE status NOT IN ('deleted', 'forgotten')"),
            &[],
        )
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
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

/// The users columns, with the status as of the query, up to `WHERE`.
fn user_select(status: &str, users: &str) -> String {
    format!(
        "SELECT u.user_id, u.version, u.email, u.username, u.first_name, u.last_name, u.phone, u.roles, \
         {status} AS status, u.locked, u.lock_kind, u.locked_until, u.failed_attempts, u.email_verified_at, \
         u.phone_verified_at, u.verification, u.mfa_enabled, u.preferred_language, u.origin, u.search, \
         u.created_at, u.updated_at, u.last_login_at, u.last_login_ip, u.last_login_device, u.last_login_user_agent \
         FROM {users} u WHERE"
    )
}

fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn time_arg(text: &str) -> Result<Arg, QueryError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| Arg::from(time.with_timezone(&Utc)))
        .map_err(|_| QueryError::Invalid("the cursor is not one this server gave out".into()))
}

fn listed_user(row: UserRow, organizations: Vec<ListedMembership>) -> ListedUser {
    let status = match row.status.as_str() {
        "deleted" => ListedStatus::Deleted,
        "forgotten" => ListedStatus::Forgotten,
        "inactive" => ListedStatus::Inactive,
        "locked" => ListedStatus::Locked,
        _ => ListedStatus::Active,
    };
    ListedUser {
        id: row.user_id,
        email: Some(row.email).filter(|email| !email.is_empty()),
        username: row.username,
        first_name: row.first_name,
        last_name: row.last_name,
        phone: row.phone,
        roles: row.roles.0,
        organizations,
        status,
        verification_status: row.verification,
        email_verified_at: row.email_verified_at,
        phone_verified_at: row.phone_verified_at,
        locked_until: if status == ListedStatus::Locked {
            row.locked_until
        } else {
            None
        },
        failed_attempts: row.failed_attempts,
        mfa_enabled: row.mfa_enabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_login_at: row.last_login_at,
        last_login_ip: row.last_login_ip,
        last_login_device: row.last_login_device,
    }
}

/// The words searched for, trimmed; none when blank. Control characters are refused: a NUL
/// cuts a pattern short on SQLite (matching everyone) and is an error on PostgreSQL.
fn search_text(q: Option<&str>) -> Result<Option<&str>, QueryError> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().any(char::is_control) {
        return Err(QueryError::Invalid(
            "q must not contain control characters".into(),
        ));
    }
    Ok(Some(q))
}
