//! One way to talk to either database: SQL written once (`$1` placeholders, `ON CONFLICT`, no
//! dialect-only functions), values as [`Arg`]s bound the way each database stores them, and rows
//! decoded by `sqlx::FromRow` types that work for both. The log's own reads use it, and so do the
//! crates that keep their tables next to the log (read models, workers' checkpoints).

use crate::Database;
use crate::sqlite::WriteTransaction;
use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, FromRow, Postgres};

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
    /// Bytes (`bytea` on PostgreSQL, a blob on SQLite).
    Bytes(Option<Vec<u8>>),
    /// A column of values as one PostgreSQL array (SQLite has no arrays).
    Array(Column),
}

/// One column's values, bound as a PostgreSQL array: a statement over arrays is the same
/// whatever their length, so it is prepared and planned once per connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// `text[]`.
    Text(Vec<Option<String>>),
    /// `int8[]`.
    Int(Vec<Option<i64>>),
    /// `bool[]`.
    Bool(Vec<bool>),
    /// `timestamptz[]`.
    Time(Vec<Option<DateTime<Utc>>>),
    /// `date[]`.
    Date(Vec<NaiveDate>),
    /// `jsonb[]`.
    Json(Vec<Option<serde_json::Value>>),
    /// `bytea[]`.
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Column {
    /// An empty column of `value`'s type.
    fn like(value: &Arg) -> Option<Self> {
        Some(match value {
            Arg::Text(_) => Self::Text(Vec::new()),
            Arg::Int(_) => Self::Int(Vec::new()),
            Arg::Bool(_) => Self::Bool(Vec::new()),
            Arg::Time(_) => Self::Time(Vec::new()),
            Arg::Date(_) => Self::Date(Vec::new()),
            Arg::Json(_) => Self::Json(Vec::new()),
            Arg::Bytes(_) => Self::Bytes(Vec::new()),
            Arg::Array(_) => return None,
        })
    }

    /// Appends `value`; false if it is not of this column's type.
    fn push(&mut self, value: Arg) -> bool {
        match (self, value) {
            (Self::Text(values), Arg::Text(value)) => values.push(value),
            (Self::Int(values), Arg::Int(value)) => values.push(value),
            (Self::Bool(values), Arg::Bool(value)) => values.push(value),
            (Self::Time(values), Arg::Time(value)) => values.push(value),
            (Self::Date(values), Arg::Date(value)) => values.push(value),
            (Self::Json(values), Arg::Json(value)) => values.push(value),
            (Self::Bytes(values), Arg::Bytes(value)) => values.push(value),
            _ => return false,
        }
        true
    }

    /// The PostgreSQL array type.
    fn sql_type(&self) -> &'static str {
        match self {
            Self::Text(_) => "text[]",
            Self::Int(_) => "int8[]",
            Self::Bool(_) => "bool[]",
            Self::Time(_) => "timestamptz[]",
            Self::Date(_) => "date[]",
            Self::Json(_) => "jsonb[]",
            Self::Bytes(_) => "bytea[]",
        }
    }
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

impl From<&[u8]> for Arg {
    fn from(value: &[u8]) -> Self {
        Self::Bytes(Some(value.to_vec()))
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

    /// Replaces the type placeholders of DDL: `{time}`, `{date}`, `{json}`, `{int}`,
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
            Arg::Bytes(value) => arguments.add(value),
            Arg::Array(Column::Text(values)) => arguments.add(values),
            Arg::Array(Column::Int(values)) => arguments.add(values),
            Arg::Array(Column::Bool(values)) => arguments.add(values),
            Arg::Array(Column::Time(values)) => arguments.add(values),
            Arg::Array(Column::Date(values)) => arguments.add(values),
            Arg::Array(Column::Json(values)) => arguments.add(
                values
                    .into_iter()
                    .map(|value| value.map(sqlx::types::Json))
                    .collect::<Vec<_>>(),
            ),
            Arg::Array(Column::Bytes(values)) => arguments.add(values),
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
            Arg::Time(value) => arguments.add(value.map(crate::sqlite::format_time)),
            Arg::Date(value) => arguments.add(value.format("%Y-%m-%d").to_string()),
            Arg::Json(value) => arguments.add(value.map(|json| json.to_string())),
            Arg::Bytes(value) => arguments.add(value),
            Arg::Array(_) => Err("SQLite has no arrays".into()),
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
    Sqlite(WriteTransaction),
}

impl Tx {
    /// Begins a transaction.
    pub async fn begin(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Postgres(pool) => Self::Postgres(pool.begin().await?),
            Database::Sqlite(pool) => Self::Sqlite(WriteTransaction::begin(pool).await?),
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

/// Runs a statement on the pool (its own transaction; on SQLite in this process's turn at the
/// file's write lock, like every writer here: see [`WriteTransaction`]).
pub async fn execute(database: &Database, sql: &str, args: &[Arg]) -> Result<u64, sqlx::Error> {
    Ok(match database {
        Database::Postgres(pool) => sqlx::query_with(sql, pg_arguments(args)?)
            .execute(pool)
            .await?
            .rows_affected(),
        Database::Sqlite(_) => {
            let mut tx = Tx::begin(database).await?;
            let affected = tx.execute(sql, args).await?;
            tx.commit().await?;
            affected
        }
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

/// Runs a query on the pool; streams its rows as the database sends them.
pub fn fetch<'a, T: Readable + 'a>(
    database: &'a Database,
    sql: &'a str,
    args: &[Arg],
) -> BoxStream<'a, Result<T, sqlx::Error>> {
    let failed = |error| stream::once(async { Err(error) }).boxed();
    match database {
        Database::Postgres(pool) => match pg_arguments(args) {
            Ok(arguments) => sqlx::query_as_with(sql, arguments).fetch(pool),
            Err(error) => failed(error),
        },
        Database::Sqlite(pool) => match sqlite_arguments(args) {
            Ok(arguments) => sqlx::query_as_with(sql, arguments).fetch(pool),
            Err(error) => failed(error),
        },
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

/// Rows per insert statement: the arrays of one statement on PostgreSQL; at most this many on
/// SQLite, fewer for wide rows (see `SQLITE_PARAMETERS`).
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

/// `statement`, which ends in `IN`, for `ids`: on PostgreSQL `= ANY($1)` with the ids bound as
/// one array, so the statement is the same whatever their number; on SQLite `IN ($1, ...)`, a
/// chunk at a time. None for no ids.
fn statements_in<'a>(
    dialect: Dialect,
    statement: &str,
    ids: &'a [&'a str],
) -> Vec<(String, Vec<&'a str>)> {
    if ids.is_empty() {
        return Vec::new();
    }
    match dialect {
        Dialect::Postgres => {
            let prefix = statement.strip_suffix("IN").unwrap_or(statement);
            vec![(format!("{prefix}= ANY($1)"), ids.to_vec())]
        }
        Dialect::Sqlite => ids
            .chunks(dialect.rows_per_statement(1))
            .map(|chunk| {
                (
                    format!("{statement} {}", placeholders(1, chunk.len())),
                    chunk.to_vec(),
                )
            })
            .collect(),
    }
}

/// Runs `statement` (ending in `IN`) for `ids`; returns every row.
pub async fn fetch_in<T: Readable>(
    tx: &mut Tx,
    statement: &str,
    ids: &[&str],
) -> Result<Vec<T>, sqlx::Error> {
    let mut rows = Vec::with_capacity(ids.len());
    for (sql, chunk) in statements_in(tx.dialect(), statement, ids) {
        rows.extend(
            tx.fetch_all::<T>(&sql, &ids_arguments(tx.dialect(), chunk))
                .await?,
        );
    }
    Ok(rows)
}

/// Runs `statement` (ending in `IN`) for `ids`.
pub async fn execute_in(tx: &mut Tx, statement: &str, ids: &[&str]) -> Result<(), sqlx::Error> {
    for (sql, chunk) in statements_in(tx.dialect(), statement, ids) {
        tx.execute(&sql, &ids_arguments(tx.dialect(), chunk))
            .await?;
    }
    Ok(())
}

/// The arguments of a statement from [`statements_in`].
fn ids_arguments(dialect: Dialect, ids: Vec<&str>) -> Vec<Arg> {
    match dialect {
        Dialect::Postgres => vec![Arg::Array(Column::Text(
            ids.into_iter().map(|id| Some(id.to_owned())).collect(),
        ))],
        Dialect::Sqlite => ids.into_iter().map(Arg::from).collect(),
    }
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

/// `INSERT INTO table (columns) VALUES (...), (...) [suffix]` for `rows` rows of `columns`.
fn insert_statement(table: &str, columns: &[&str], rows: usize, suffix: &str) -> String {
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

/// Inserts `rows` of `columns` into `table`, a chunk at a time, followed by `suffix` (an `ON
/// CONFLICT` clause, say). On PostgreSQL each column is bound as one array (`INSERT ... SELECT *
/// FROM unnest($1::text[], ...)`): one statement whatever the number of rows. A multi-row
/// `VALUES` of each batch's size was a statement of its own, more of them than sqlx keeps
/// prepared per connection (100), so PostgreSQL parsed and planned them again and again. SQLite
/// has no arrays: a multi-row `VALUES` there.
pub async fn insert_rows(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    suffix: &str,
    rows: Vec<Vec<Arg>>,
) -> Result<(), sqlx::Error> {
    let dialect = tx.dialect();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Arg>> = rows
            .by_ref()
            .take(dialect.rows_per_statement(columns.len()))
            .collect();
        match dialect {
            Dialect::Postgres => {
                let arrays = transpose(columns.len(), chunk)?;
                let unnest: Vec<String> = arrays
                    .iter()
                    .enumerate()
                    .map(|(i, column)| format!("${}::{}", i + 1, column.sql_type()))
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) SELECT * FROM unnest({}) {suffix}",
                    columns.join(", "),
                    unnest.join(", ")
                );
                let args: Vec<Arg> = arrays.into_iter().map(Arg::Array).collect();
                tx.execute(&sql, &args).await?;
            }
            Dialect::Sqlite => {
                let sql = insert_statement(table, columns, chunk.len(), suffix);
                let args: Vec<Arg> = chunk.into_iter().flatten().collect();
                tx.execute(&sql, &args).await?;
            }
        }
    }
    Ok(())
}

/// Rows of `width` values as one [`Column`] per value, each typed by the first row.
fn transpose(width: usize, rows: Vec<Vec<Arg>>) -> Result<Vec<Column>, sqlx::Error> {
    let mismatch = || sqlx::Error::Encode("rows of different shapes in one insert".into());
    let mut columns: Vec<Column> = rows
        .first()
        .ok_or_else(mismatch)?
        .iter()
        .map(Column::like)
        .collect::<Option<_>>()
        .ok_or_else(mismatch)?;
    if columns.len() != width {
        return Err(mismatch());
    }
    for row in rows {
        if row.len() != width {
            return Err(mismatch());
        }
        for (column, value) in columns.iter_mut().zip(row) {
            if !column.push(value) {
                return Err(mismatch());
            }
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_one_typed_array_per_column() {
        let at = Utc::now();
        let rows = vec![
            vec![Arg::from("a"), Arg::Int(Some(1)), Arg::Time(Some(at))],
            vec![Arg::Text(None), Arg::Int(None), Arg::Time(None)],
        ];
        let columns = transpose(3, rows).expect("same shapes");
        assert_eq!(
            columns,
            vec![
                Column::Text(vec![Some("a".into()), None]),
                Column::Int(vec![Some(1), None]),
                Column::Time(vec![Some(at), None]),
            ]
        );
        assert_eq!(
            columns.iter().map(Column::sql_type).collect::<Vec<_>>(),
            ["text[]", "int8[]", "timestamptz[]"]
        );
    }

    #[test]
    fn rows_of_different_shapes_are_refused() {
        let typed_differently = vec![vec![Arg::from("a")], vec![Arg::Int(Some(1))]];
        assert!(transpose(1, typed_differently).is_err());
        let shorter = vec![vec![Arg::from("a"), Arg::from("b")], vec![Arg::from("c")]];
        assert!(transpose(2, shorter).is_err());
        assert!(transpose(1, Vec::new()).is_err());
    }

    #[test]
    fn lookups_by_id_are_one_statement_on_postgres_and_chunks_on_sqlite() {
        let ids = ["a", "b", "c"];
        let postgres = statements_in(Dialect::Postgres, "SELECT 1 FROM t WHERE id IN", &ids);
        assert_eq!(
            postgres,
            vec![(
                "SELECT 1 FROM t WHERE id = ANY($1)".to_owned(),
                ids.to_vec()
            )]
        );
        let sqlite = statements_in(Dialect::Sqlite, "SELECT 1 FROM t WHERE id IN", &ids);
        assert_eq!(
            sqlite,
            vec![(
                "SELECT 1 FROM t WHERE id IN ($1, $2, $3)".to_owned(),
                ids.to_vec()
            )]
        );
    }
}
