//! The tables of a projection's generations: created (indexes with them, or after a
//! rebuild's load), dropped, and the stable views pointed at one of them.

use super::Projector;
use crate::Projection;
use crate::names::Names;
use eventstore::sql::{Dialect, Tx};

impl Projector {
    /// Creates the tables of `generation` (dropping any left over), with their indexes unless
    /// `defer_indexes` (a rebuild loads first and indexes after: much faster).
    pub(super) async fn create_tables(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
        defer_indexes: bool,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        let cascade = match self.inner.dialect {
            Dialect::Postgres => " CASCADE",
            Dialect::Sqlite => "",
        };
        for table in projection.tables() {
            let name = names.table(table.name, generation);
            tx.execute(&format!("DROP TABLE IF EXISTS {name}{cascade}"), &[])
                .await?;
            let create = self
                .inner
                .dialect
                .ddl(&format!("CREATE TABLE {name} ({})", table.columns));
            tx.execute(&create, &[]).await?;
        }
        if !defer_indexes {
            self.create_indexes(tx, projection, generation).await?;
        }
        Ok(())
    }

    pub(super) async fn create_indexes(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        for table in projection.tables() {
            let name = names.table(table.name, generation);
            for (suffix, columns) in table.indexes {
                let index = names.index(table.name, generation, suffix);
                let definition = match (columns.starts_with("USING "), self.inner.dialect) {
                    (false, _) => format!("({columns})"),
                    (true, Dialect::Postgres) => (*columns).to_owned(),
                    (true, Dialect::Sqlite) => continue,
                };
                tx.execute(
                    &format!("CREATE INDEX IF NOT EXISTS {index} ON {name} {definition}"),
                    &[],
                )
                .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn drop_tables(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        for table in projection.tables() {
            let name = names.table(table.name, generation);
            tx.execute(&format!("DROP TABLE IF EXISTS {name}"), &[])
                .await?;
        }
        Ok(())
    }

    /// Points the stable views (or, for a past view, the `_as_of` views) at `generation`.
    pub(super) async fn point_views(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
        as_of: bool,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        for table in projection.tables() {
            let view = if as_of {
                names.view(&format!("{}_as_of", table.name))
            } else {
                names.view(table.name)
            };
            let source = names.table(table.name, generation);
            tx.execute(&format!("DROP VIEW IF EXISTS {view}"), &[])
                .await?;
            tx.execute(
                &format!("CREATE VIEW {view} AS SELECT * FROM {source}"),
                &[],
            )
            .await?;
        }
        Ok(())
    }
}
