//! idlog's database schema, as sqlx migrations: one set for PostgreSQL, one for SQLite, kept
//! side by side so that every change is made to both.

use sqlx::migrate::Migrator;

/// Migrations for PostgreSQL.
pub static POSTGRES: Migrator = sqlx::migrate!("./postgres");

/// Migrations for SQLite.
pub static SQLITE: Migrator = sqlx::migrate!("./sqlite");
