//! Queries over the read models' stable views: filters, sorting and keyset pagination.
//!
//! Statements are built from fixed fragments; every value the caller gives is bound, never
//! spliced into the text.
//!
//! [`Queries`] and what every query shares (errors, pages, page sizes, bound arguments, search
//! text) live here; the queries themselves live by what they read: users (the list, its filter,
//! sort and cursor), sessions, activity (and its export), analytics (dashboard, daily series,
//! funnel), organizations (and their members).

mod activity;
mod analytics;
mod devices;
mod organizations;
mod partners;
mod sessions;
mod users;

pub use activity::{ActivityFilter, ROUTINE_ACTIONS};
pub use analytics::{ACTIVE_USERS, DailyPoint, Dashboard, Funnel};
pub use organizations::{ListedMember, ListedOrganization, OrganizationFilter};
pub use partners::{
    PartnerLine, PartnerRecordRow, RecordFilter, TransactionDay, TransactionFigures,
};
pub use users::{ListedMembership, ListedStatus, ListedUser, Order, UserFilter, UserSort};

use crate::names::Names;
use eventstore::Database;
use eventstore::sql::{Arg, Dialect};
use serde::Serialize;

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

    /// `column IN (...)` over `values`, bound; none matches when `values` is empty.
    fn one_of(&mut self, column: &str, values: &[String]) -> String {
        if values.is_empty() {
            return "1 = 0".to_owned();
        }
        let placeholders: Vec<String> = values
            .iter()
            .map(|value| self.push(value.clone()))
            .collect();
        format!("{column} IN ({})", placeholders.join(", "))
    }
}

/// The first day of a window of `days` days ending `today`.
fn window_start(today: chrono::NaiveDate, days: u32) -> chrono::NaiveDate {
    today - chrono::Days::new(u64::from(days.saturating_sub(1)))
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
