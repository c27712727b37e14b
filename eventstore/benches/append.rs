//! Append throughput: idlog's group-committed appends against raw single-row INSERT autocommit
//! transactions into a table of the same shape, with the same number of concurrent callers, on
//! the same database. Run: `cargo bench -p eventstore --bench append` (PostgreSQL from
//! `TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres; seconds per
//! round from `BENCH_SECONDS`, default 3). idlog and raw rounds alternate, `ROUNDS` times each,
//! so that drift in the disk's sync latency hits both alike.

use eventstore::testing::{Backend, TestDb};
use eventstore::{AppendRequest, Database, EventLog, ExpectedVersion, NewEvent};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: [usize; 2] = [1, 32];
const ROUNDS: usize = 3;

fn payload(n: u64) -> serde_json::Value {
    json!({
        "user_id": format!("0193a5f2-7c1e-7a00-8000-{n:012}"),
        "email": format!("user{n}@example.com"),
        "username": null,
        "first_name": "Ann",
        "last_name": "Lee",
        "roles": ["user"],
        "at": "2026-11-22T09:00:00.000000Z"
    })
}

/// Runs `callers` loops of `one` for the configured time; returns operations and seconds.
async fn measure<F, Fut>(callers: usize, seconds: u64, one: F) -> (u64, f64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let one = Arc::new(one);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let (one, stop, done) = (one.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    one(caller, n).await;
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("caller");
    }
    (
        done.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    )
}

async fn idlog_appends(log: &EventLog, callers: usize, seconds: u64, run: usize) -> (u64, f64) {
    let log = log.clone();
    measure(callers, seconds, move |caller, n| {
        let log = log.clone();
        async move {
            let expected = if n == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(n)
            };
            let event = NewEvent {
                event_type: "UserRegistered".into(),
                schema_version: 1,
                payload: payload(n),
                personal_fields: vec![],
            };
            let request = AppendRequest::new(
                format!("bench-{run}-{caller}"),
                "user",
                expected,
                vec![event],
            );
            log.append(request).await.expect("append");
        }
    })
    .await
}

/// The raw table has the log's shape exactly: columns, constraints and indexes (not its
/// append-only triggers, which do not fire on INSERT).
const RAW_TABLE_POSTGRES: &[&str] = &[
    "CREATE TABLE raw_events (LIKE events INCLUDING ALL)",
    "CREATE SEQUENCE raw_positions OWNED BY raw_events.global_position",
    "ALTER TABLE raw_events ALTER COLUMN global_position SET DEFAULT nextval('raw_positions')",
];
const RAW_TABLE_SQLITE: &[&str] = &[
    "CREATE TABLE raw_events (
        global_position INTEGER PRIMARY KEY CHECK (global_position > 0), stream_id TEXT NOT NULL,
        stream_type TEXT NOT NULL, stream_version INTEGER NOT NULL CHECK (stream_version > 0),
        event_id TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL, schema_version INTEGER NOT NULL,
        payload TEXT NOT NULL CHECK (json_valid(payload)), metadata TEXT NOT NULL CHECK (json_valid(metadata)),
        recorded_at TEXT NOT NULL, prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),
        hash BLOB NOT NULL CHECK (length(hash) = 32), UNIQUE (stream_id, stream_version))",
    "CREATE INDEX raw_events_type_position ON raw_events (event_type, global_position)",
    "CREATE INDEX raw_events_recorded_at ON raw_events (recorded_at)",
];

async fn raw_inserts(database: &Database, callers: usize, seconds: u64, run: usize) -> (u64, f64) {
    let database = database.clone();
    measure(callers, seconds, move |caller, n| {
        let database = database.clone();
        async move {
            let stream = format!("raw-{run}-{caller}");
            let version = i64::try_from(n + 1).expect("version");
            let body = payload(n).to_string();
            let id = uuid::Uuid::now_v7();
            let now = chrono::Utc::now();
            let result = match &database {
                Database::Postgres(pool) => sqlx::query(
                    "INSERT INTO raw_events (stream_id, stream_type, stream_version, event_id, event_type, schema_version, \
                     payload, metadata, recorded_at, prev_hash, hash) VALUES ($1, 'user', $2, $3, 'UserRegistered', 1, \
                     $4::jsonb, '{}'::jsonb, $5, $6, $7)",
                )
                .bind(&stream)
                .bind(version)
                .bind(id)
                .bind(&body)
                .bind(now)
                .bind([0u8; 32].as_slice())
                .bind([1u8; 32].as_slice())
                .execute(pool)
                .await
                .map(drop),
                Database::Sqlite(pool) => sqlx::query(
                    "INSERT INTO raw_events (stream_id, stream_type, stream_version, event_id, event_type, schema_version, \
                     payload, metadata, recorded_at, prev_hash, hash) VALUES (?, 'user', ?, ?, 'UserRegistered', 1, ?, '{}', ?, ?, ?)",
                )
                .bind(&stream)
                .bind(version)
                .bind(id.to_string())
                .bind(&body)
                .bind(now.to_rfc3339())
                .bind([0u8; 32].as_slice())
                .bind([1u8; 32].as_slice())
                .execute(pool)
                .await
                .map(drop),
            };
            result.expect("raw insert");
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!(
        "append benchmark: {ROUNDS} alternating rounds of {seconds} s, single-event appends, one stream per caller"
    );
    println!(
        "{:<10} {:>7} {:>14} {:>14} {:>7}",
        "database", "callers", "idlog ev/s", "raw INSERT/s", "ratio"
    );
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let db = TestDb::new(backend).await.expect("bench database");
        // As many connections as callers, so raw INSERTs are not limited by the pool.
        let opened = eventstore::open(&db.url, 32).await.expect("open");
        let create = match backend {
            Backend::Postgres => RAW_TABLE_POSTGRES,
            Backend::Sqlite => RAW_TABLE_SQLITE,
        };
        for statement in create {
            TestDb::execute(&opened.database, statement)
                .await
                .expect("raw table");
        }
        for callers in CONCURRENCY {
            let (mut idlog, mut raw) = ((0, 0.0), (0, 0.0));
            for round in 0..ROUNDS {
                let run = callers * 100 + round;
                let (ops, secs) = idlog_appends(&opened.log, callers, seconds, run).await;
                idlog = (idlog.0 + ops, idlog.1 + secs);
                let (ops, secs) = raw_inserts(&opened.database, callers, seconds, run).await;
                raw = (raw.0 + ops, raw.1 + secs);
            }
            let (idlog, raw) = (idlog.0 as f64 / idlog.1, raw.0 as f64 / raw.1);
            let name = match backend {
                Backend::Postgres => "postgres",
                Backend::Sqlite => "sqlite",
            };
            println!(
                "{name:<10} {callers:>7} {idlog:>14.0} {raw:>14.0} {:>7.2}",
                idlog / raw
            );
        }
        let report = opened.log.verify_chain(|_| {}).await.expect("verify");
        assert!(report.broken.is_none(), "the benchmark's log verifies");
    }
}
