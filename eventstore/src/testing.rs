//! Fresh databases for tests: a new PostgreSQL database per test (on the server named by
//! `TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`), or a new
//! SQLite file in a temporary folder. Both are real databases over real connections.

use crate::encryption::{MasterKey, MasterKeys};
use crate::{Database, Opened, StoreError};
use sqlx::Connection;
use uuid::Uuid;

/// The master key the test logs wrap their data keys with.
pub const TEST_MASTER_KEY: [u8; 32] = [42; 32];

/// The server tests create their PostgreSQL databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A fresh, empty, migrated database for one test, removed when it is dropped: its SQLite folder
/// with it, its PostgreSQL database (named `idlog_test_*`) by a `DROP DATABASE`. A test that
/// panics still drops it; one killed mid-run leaves it to the test command's next run.
#[derive(Debug)]
pub struct TestDb {
    /// The URL to open it with (again, to simulate a restart).
    pub url: String,
    /// Which backend.
    pub backend: Backend,
    _folder: Option<tempfile::TempDir>,
}

impl Drop for TestDb {
    /// A full suite creates hundreds of PostgreSQL databases; kept to the end, they can fill the
    /// disk. `Drop` cannot await, so a thread of its own drops the database (ending any
    /// connections the test left open) and is waited for.
    fn drop(&mut self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let Some((_, name)) = self.url.rsplit_once('/') else {
            return;
        };
        let name = name.to_owned();
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&statement).execute(&mut admin).await;
                }
            });
        });
        let _ = dropping.join();
    }
}

impl TestDb {
    /// Creates one.
    pub async fn new(backend: Backend) -> Result<Self, StoreError> {
        match backend {
            Backend::Sqlite => {
                let folder = tempfile::tempdir().map_err(|e| StoreError::Batch(e.to_string()))?;
                let url = format!("sqlite://{}", folder.path().join("idlog.db").display());
                Ok(Self {
                    url,
                    backend,
                    _folder: Some(folder),
                })
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("idlog_test_{}", Uuid::now_v7().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|cause| StoreError::Database {
                        context: "connecting to the test server",
                        cause,
                    })?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .map_err(|cause| StoreError::Database {
                        context: "creating a test database",
                        cause,
                    })?;
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                Ok(Self {
                    url: format!("{base}/{name}"),
                    backend,
                    _folder: None,
                })
            }
        }
    }

    /// Opens the log on it (migrating it), personal data encrypted under [`TEST_MASTER_KEY`].
    pub async fn open(&self) -> Result<Opened, StoreError> {
        crate::open_with(&self.url, 16, |builder| {
            builder.encrypt_personal_data(MasterKeys::new(MasterKey::from_bytes(TEST_MASTER_KEY)))
        })
        .await
    }

    /// Runs a statement directly, bypassing the log (to tamper with rows in tests).
    pub async fn execute(database: &Database, sql: &str) -> Result<u64, StoreError> {
        let result = match database {
            Database::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Database::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        };
        result.map_err(|cause| StoreError::Database {
            context: "running a test statement",
            cause,
        })
    }
}

/// Runs the async test body `$body` (a function taking a [`Backend`]) once per backend, as
/// `sqlite` and `postgres` test functions in a module named after the test.
#[macro_export]
macro_rules! test_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::testing::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::testing::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// Stored events with their JSON as trees, for assertions on single fields.
pub fn as_trees(events: Vec<crate::storage::StoredEvent>) -> Vec<crate::RecordedEvent> {
    events
        .into_iter()
        .map(|event| event.into_tree().expect("stored JSON reads as JSON"))
        .collect()
}
