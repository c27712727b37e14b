//! One way to talk to either database: SQL written once (`$1` placeholders, `ON CONFLICT`, no
//! dialect-only functions), values as [`Arg`]s bound the way each database stores them, and rows
//! decoded by `sqlx::FromRow` types that work for both.
//!
//! Read-model tables and views get their names from [`Names`]: on PostgreSQL they live in the
//! `idlog_read` (tables) and `analytics` (stable views) schemas; SQLite has no schemas, so there
//! they are prefixed `rm_` (tables) and `analytics_` (views).

use chrono::{DateTime, NaiveDate, Utc};
use eventstore::Database;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, FromRow, Postgres, Sqlite};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// Text.
    Text(Option<String>),
    /// A whole number.
    Int(Option<i64>),
    /// A truth value.
    Bool(bool),
    /// A point in time (`timestamptz` on PostgreSQL, ISO 8601 text with microseconds on SQLite,
    /// so text order is time order).
    Time(Option<DateTime<Utc>>),
    /// A calendar day (`date` on PostgreSQL, `YYYY-MM-DD` on SQLite).
    Date(NaiveDate),
    /// JSON (`jsonb` on PostgreSQL, text on SQLite).
    Json(Option<serde_json::Value>),
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(Some(value.to_owned()))
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(Some(value))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Self::Text(value)
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<bool> for Arg {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<DateTime<Utc>> for Arg {
    fn from(value: DateTime<Utc>) -> Self {
        Self::Time(Some(value))
    }
}

impl From<Option<DateTime<Utc>>> for Arg {
    fn from(value: Option<DateTime<Utc>>) -> Self {
        Self::Time(value)
    }
}

impl From<NaiveDate> for Arg {
    fn from(value: NaiveDate) -> Self {
        Self::Date(value)
    }
}

/// Which database a statement runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Dialect {
    /// The dialect of `database`.
    pub fn of(database: &Database) -> Self {
        match database {
            Database::Postgres(_) => Self::Postgres,
            Database::Sqlite(_) => Self::Sqlite,
        }
    }

    /// Replaces the type placeholders of read-model DDL: `{time}`, `{date}`, `{json}`, `{int}`,
    /// `{bool}`.
    pub fn ddl(self, template: &str) -> String {
        let (time, date, json, int, boolean) = match self {
            Self::Postgres => ("TIMESTAMPTZ", "DATE", "JSONB", "BIGINT", "BOOLEAN"),
            Self::Sqlite => ("TEXT", "TEXT", "TEXT", "INTEGER", "INTEGER"),
        };
        template
            .replace("{time}", time)
            .replace("{date}", date)
            .replace("{json}", json)
            .replace("{int}", int)
            .replace("{bool}", boolean)
    }
}

/// Where a read model's tables and views are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    dialect: Dialect,
}

/// PostgreSQL schema of the read models' tables.
pub const TABLE_SCHEMA: &str = "idlog_read";
/// PostgreSQL schema of the stable views analysts query.
pub const VIEW_SCHEMA: &str = "analytics";

impl Names {
    /// Names on `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        Self { dialect }
    }

    /// The table `name` of `generation`, qualified (what statements use).
    pub fn table(self, name: &str, generation: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("{TABLE_SCHEMA}.{name}_{generation}"),
            Dialect::Sqlite => format!("rm_{name}_{generation}"),
        }
    }

    /// The bare name of a table's index (an index lives in its table's schema).
    pub fn index(self, name: &str, generation: &str, suffix: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("{name}_{generation}_{suffix}"),
            Dialect::Sqlite => format!("rm_{name}_{generation}_{suffix}"),
        }
    }

    /// The stable view over the live generation of table `name` (what queries use).
    pub fn view(self, name: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("{VIEW_SCHEMA}.{name}"),
            Dialect::Sqlite => format!("analytics_{name}"),
        }
    }
}

/// `count` placeholders `($first, $first+1, ...)` for one row of a multi-row statement.
pub fn placeholders(first: usize, count: usize) -> String {
    let mut text = String::from("(");
    for i in 0..count {
        if i > 0 {
            text.push_str(", ");
        }
        text.push('$');
        text.push_str(&(first + i).to_string());
    }
    text.push(')');
    text
}

/// A row type readable from both databases.
pub trait Readable:
    for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}

impl<T> Readable for T where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}

fn pg_arguments(args: &[Arg]) -> Result<PgArguments, sqlx::Error> {
    let mut arguments = PgArguments::default();
    for arg in args {
        match arg.clone() {
            Arg::Text(value) => arguments.add(value),
            Arg::Int(value) => arguments.add(value),
            Arg::Bool(value) => arguments.add(value),
            Arg::Time(value) => arguments.add(value),
            Arg::Date(value) => arguments.add(value),
            Arg::Json(value) => arguments.add(value.map(sqlx::types::Json)),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}

fn sqlite_arguments(args: &[Arg]) -> Result<SqliteArguments<'static>, sqlx::Error> {
    let mut arguments = SqliteArguments::default();
    for arg in args {
        match arg.clone() {
            Arg::Text(value) => arguments.add(value),
            Arg::Int(value) => arguments.add(value),
            Arg::Bool(value) => arguments.add(value),
            Arg::Time(value) => arguments.add(value.map(eventstore::sqlite::format_time)),
            Arg::Date(value) => arguments.add(value.format("%Y-%m-%d").to_string()),
            Arg::Json(value) => arguments.add(value.map(|json| json.to_string())),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}

/// A transaction on either database.
pub enum Tx {
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'static, Postgres>),
    /// SQLite (begun `IMMEDIATE`: it holds the write lock from the start).
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

impl Tx {
    /// Begins a transaction.
    pub async fn begin(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Postgres(pool) => Self::Postgres(pool.begin().await?),
            Database::Sqlite(pool) => Self::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    /// Begins a transaction over derived data only (read models and their checkpoints). On
    /// PostgreSQL its commit does not wait for the WAL to reach the disk: a crash can lose the
    /// last moments of such work, rows and checkpoint together (never one without the other),
    /// and they are projected again from the log; meanwhile the log's own commits do not queue
    /// behind the read models' flushes.
    pub async fn begin_derived(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Postgres(pool) => Self::Postgres(
                pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await?,
            ),
            Database::Sqlite(_) => Self::begin(database).await?,
        })
    }

    /// The transaction's dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(_) => Dialect::Postgres,
            Self::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Runs a statement; returns the rows affected.
    pub async fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Self::Postgres(tx) => sqlx::query_with(sql, pg_arguments(args)?)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Self::Sqlite(tx) => sqlx::query_with(sql, sqlite_arguments(args)?)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query; returns its rows.
    pub async fn fetch_all<T: Readable>(
        &mut self,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<T>, sqlx::Error> {
        match self {
            Self::Postgres(tx) => {
                sqlx::query_as_with(sql, pg_arguments(args)?)
                    .fetch_all(&mut **tx)
                    .await
            }
            Self::Sqlite(tx) => {
                sqlx::query_as_with(sql, sqlite_arguments(args)?)
                    .fetch_all(&mut **tx)
                    .await
            }
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(tx) => tx.commit().await,
            Self::Sqlite(tx) => tx.commit().await,
        }
    }
}

/// Runs a statement on the pool (its own transaction).
pub async fn execute(database: &Database, sql: &str, args: &[Arg]) -> Result<u64, sqlx::Error> {
    Ok(match database {
        Database::Postgres(pool) => sqlx::query_with(sql, pg_arguments(args)?)
            .execute(pool)
            .await?
            .rows_affected(),
        Database::Sqlite(pool) => sqlx::query_with(sql, sqlite_arguments(args)?)
            .execute(pool)
            .await?
            .rows_affected(),
    })
}

/// Runs a query on the pool; returns its rows.
pub async fn fetch_all<T: Readable>(
    database: &Database,
    sql: &str,
    args: &[Arg],
) -> Result<Vec<T>, sqlx::Error> {
    match database {
        Database::Postgres(pool) => {
            sqlx::query_as_with(sql, pg_arguments(args)?)
                .fetch_all(pool)
                .await
        }
        Database::Sqlite(pool) => {
            sqlx::query_as_with(sql, sqlite_arguments(args)?)
                .fetch_all(pool)
                .await
        }
    }
}

/// Runs a query on the pool; returns its first row, if any.
pub async fn fetch_optional<T: Readable>(
    database: &Database,
    sql: &str,
    args: &[Arg],
) -> Result<Option<T>, sqlx::Error> {
    Ok(fetch_all(database, sql, args).await?.into_iter().next())
}

/// The snake_case name serde gives an enum value.
pub fn label<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Rows per multi-row statement: under SQLite's and PostgreSQL's parameter limits.
pub const ROWS_PER_STATEMENT: usize = 500;

/// The most parameters one SQLite statement gets here. Binding is quadratic in a statement's
/// parameters there (sqlx looks up each one's name, and SQLite walks its list for every lookup):
/// 500 rows of 26 columns spent most of a rebuild binding.
const SQLITE_PARAMETERS: usize = 512;

impl Dialect {
    /// How many rows of `columns` parameters each one statement takes.
    fn rows_per_statement(self, columns: usize) -> usize {
        match self {
            Self::Postgres => ROWS_PER_STATEMENT,
            Self::Sqlite => (SQLITE_PARAMETERS / columns.max(1)).clamp(1, ROWS_PER_STATEMENT),
        }
    }
}

/// Runs `statement` (ending in `IN`) for `ids`, a chunk at a time; returns every chunk's rows.
pub async fn fetch_in<T: Readable>(
    tx: &mut Tx,
    statement: &str,
    ids: &[&str],
) -> Result<Vec<T>, sqlx::Error> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(tx.dialect().rows_per_statement(1)) {
        let sql = format!("{statement} {}", placeholders(1, chunk.len()));
        let args: Vec<Arg> = chunk.iter().map(|id| Arg::from(*id)).collect();
        rows.extend(tx.fetch_all::<T>(&sql, &args).await?);
    }
    Ok(rows)
}

/// Runs `statement` (ending in `IN`) for `ids`, a chunk at a time.
pub async fn execute_in(tx: &mut Tx, statement: &str, ids: &[&str]) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(tx.dialect().rows_per_statement(1)) {
        let sql = format!("{statement} {}", placeholders(1, chunk.len()));
        let args: Vec<Arg> = chunk.iter().map(|id| Arg::from(*id)).collect();
        tx.execute(&sql, &args).await?;
    }
    Ok(())
}

/// `INSERT INTO table (columns) VALUES (...), (...) [suffix]` for `rows` rows of `columns`.
pub fn insert_statement(table: &str, columns: &[&str], rows: usize, suffix: &str) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&placeholders(row * columns.len() + 1, columns.len()));
    }
    sql.push(' ');
    sql.push_str(suffix);
    sql
}

/// `ON CONFLICT (keys) DO UPDATE SET` every other column to its new value.
pub fn upsert_suffix(columns: &[&str], keys: &[&str]) -> String {
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "ON CONFLICT ({}) DO UPDATE SET {}",
        keys.join(", "),
        updates.join(", ")
    )
}

/// Runs `sql_for(rows)` over `rows` in chunks, each with its rows' arguments.
pub async fn insert_rows(
    tx: &mut Tx,
    rows: Vec<Vec<Arg>>,
    sql_for: impl Fn(usize) -> String,
) -> Result<(), sqlx::Error> {
    let columns = rows.first().map_or(1, Vec::len);
    for chunk in rows.chunks(tx.dialect().rows_per_statement(columns)) {
        let args: Vec<Arg> = chunk.iter().flatten().cloned().collect();
        tx.execute(&sql_for(chunk.len()), &args).await?;
    }
    Ok(())
}
