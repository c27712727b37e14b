//! Where read models' tables and views are: on PostgreSQL in the `idlog_read` (tables) and
//! `analytics` (stable views) schemas; SQLite has no schemas, so there they are prefixed `rm_`
//! (tables) and `analytics_` (views).

use eventstore::sql::Dialect;

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
