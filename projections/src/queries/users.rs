//! The users list: its filter, sort and cursor, and single users.

use super::{Binds, Page, Queries, QueryError, TOTAL_CAP, escape_like, limit_of, search_text};
use crate::directory::UserRow;
use chrono::{DateTime, Utc};
use domain::values::{Email, PhoneNumber, Username};
use eventstore::sql::{self, Arg, placeholders};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Whose profile of `role` has these values, by field (`{"department": "physics"}`; in a
    /// query string, `role=student&department=physics`). Integers and booleans are written as
    /// text (`"3"`, `"true"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profile: BTreeMap<String, String>,
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
    /// Exactly this email address (compared as idlog stores it: lower case).
    pub email: Option<String>,
    /// Exactly this username (lower case).
    pub username: Option<String>,
    /// Exactly this phone number (international form; spaces, dots, dashes and parentheses
    /// are dropped).
    pub phone: Option<String>,
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
    /// Role profiles, by role and field (shown to those who may read them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub role_profiles: RoleProfiles,
    /// `active`, `inactive`, `locked` or `deleted`.
    pub status: ListedStatus,
    /// Verification status.
    pub verification_status: String,
    /// When the email was verified.
    #[serde(serialize_with = "domain::time::micros_option")]
    pub email_verified_at: Option<DateTime<Utc>>,
    /// When the phone was verified.
    #[serde(serialize_with = "domain::time::micros_option")]
    pub phone_verified_at: Option<DateTime<Utc>>,
    /// When a lock ends, while locked.
    #[serde(serialize_with = "domain::time::micros_option")]
    pub locked_until: Option<DateTime<Utc>>,
    /// Consecutive failed logins.
    pub failed_attempts: i64,
    /// Whether TOTP is on.
    pub mfa_enabled: bool,
    /// Created.
    #[serde(serialize_with = "domain::time::micros")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(serialize_with = "domain::time::micros")]
    pub updated_at: DateTime<Utc>,
    /// Last login.
    #[serde(serialize_with = "domain::time::micros_option")]
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

/// Role profiles by role, then field.
pub type RoleProfiles = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// A role profile's field as the directory holds it.
#[derive(sqlx::FromRow)]
struct RoleField {
    user_id: String,
    role: String,
    field: String,
    typed: sqlx::types::Json<serde_json::Value>,
}

/// Reads a cursor's sort value back as a bound argument.
type CursorValue = fn(&str) -> Result<Arg, QueryError>;

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
    /// The status expression of a users row `u`, as of `$now`.
    pub(super) fn status_sql(now: &str) -> String {
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
        if !filter.profile.is_empty() && filter.role.is_none() {
            return Err(QueryError::Invalid(
                "profile fields filter the holders of a role: give `role` too".into(),
            ));
        }
        if let Some(role) = &filter.role {
            let fields = self.view("user_role_fields");
            for (field, value) in &filter.profile {
                let role = binds.push(role.clone());
                let field = binds.push(field.clone());
                let value = binds.push(value.clone());
                conditions.push(format!(
                    "EXISTS (SELECT 1 FROM {fields} f WHERE f.user_id = u.user_id AND f.role = {role} AND f.field = {field} AND f.value = {value})"
                ));
            }
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
        for (column, value) in [
            (
                "u.email",
                field(filter.email.as_deref(), "email", Email::parse)?,
            ),
            (
                "u.username",
                field(filter.username.as_deref(), "username", Username::parse)?,
            ),
            (
                "u.phone",
                field(filter.phone.as_deref(), "phone", PhoneNumber::parse)?,
            ),
        ] {
            if let Some(value) = value {
                let value = binds.push(value);
                conditions.push(format!("{column} = {value}"));
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
        let mut profiles = self.role_profiles(&ids).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let organizations = memberships.remove(&row.user_id).unwrap_or_default();
                let role_profiles = profiles.remove(&row.user_id).unwrap_or_default();
                listed_user(row, organizations, role_profiles)
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
        let role_profiles = self
            .role_profiles(&[user_id.into()])
            .await?
            .remove(user_id)
            .unwrap_or_default();
        Ok(Some(listed_user(row, organizations, role_profiles)))
    }

    /// The role profiles of the users `ids`, by user.
    async fn role_profiles(
        &self,
        ids: &[Arg],
    ) -> Result<BTreeMap<String, RoleProfiles>, QueryError> {
        let mut profiles: BTreeMap<String, RoleProfiles> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(profiles);
        }
        let fields = self.view("user_role_fields");
        let sql = format!(
            "SELECT user_id, role, field, typed FROM {fields} WHERE user_id IN {}",
            placeholders(1, ids.len())
        );
        for field in sql::fetch_all::<RoleField>(&self.database, &sql, ids).await? {
            profiles
                .entry(field.user_id)
                .or_default()
                .entry(field.role)
                .or_default()
                .insert(field.field, field.typed.0);
        }
        Ok(profiles)
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
}

/// The users columns, with the status as of the query, up to `WHERE`.
fn user_select(status: &str, users: &str) -> String {
    format!(
        "SELECT u.user_id, u.version, u.email, u.username, u.first_name, u.last_name, u.phone, u.roles, \
         {status} AS status, u.locked, u.lock_kind, u.locked_until, u.failed_attempts, u.email_verified_at, \
         u.phone_verified_at, u.verification, u.mfa_enabled, u.preferred_language, u.origin, u.search, \
         u.created_at, u.updated_at, u.last_login_at, u.last_login_ip, u.last_login_device, u.last_login_user_agent, \
         u.status_before_deletion FROM {users} u WHERE"
    )
}

/// An exact-match filter's value as the directory stores it (`parse` normalizes); an invalid
/// one is refused naming `name`.
fn field<T: ToString>(
    raw: Option<&str>,
    name: &str,
    parse: fn(&str) -> Result<T, domain::values::InvalidValue>,
) -> Result<Option<String>, QueryError> {
    raw.map(|raw| {
        parse(raw)
            .map(|value| value.to_string())
            .map_err(|error| QueryError::Invalid(format!("{name}: {}", error.message)))
    })
    .transpose()
}

fn time_text(time: DateTime<Utc>) -> String {
    domain::time::text(&time)
}

fn time_arg(text: &str) -> Result<Arg, QueryError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| Arg::from(time.with_timezone(&Utc)))
        .map_err(|_| QueryError::Invalid("the cursor is not one this server gave out".into()))
}

fn listed_user(
    row: UserRow,
    organizations: Vec<ListedMembership>,
    role_profiles: RoleProfiles,
) -> ListedUser {
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
        role_profiles,
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
