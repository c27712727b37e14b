//! The auditors' tools over a large log: `idlog events verify`, `idlog events export` (NDJSON
//! and CSV) and the offline `idlog events verify --export`, each run as the real release binary,
//! with its wall time and peak memory (maximum resident set size of the child process).
//!
//! Run: `cargo bench -p idlog --bench audit` (PostgreSQL from `TEST_DATABASE_URL`, default
//! postgres://postgres@127.0.0.1:5432/postgres). `BENCH_EVENTS` sets the log's length (default
//! 1,000,000; the log is seeded once per backend), `BENCH_BACKENDS` which backends
//! (`postgres,sqlite`).

use eventstore::testing::{Backend, TestDb};
use eventstore::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const EVENTS_PER_APPEND: u64 = 100;
const CONCURRENT_APPENDS: u64 = 16;

/// A user-sized event: the payload and metadata of a registration.
fn event(n: u64) -> NewEvent {
    NewEvent {
        event_type: "UserRegistered".into(),
        schema_version: 1,
        payload: json!({
            "user_id": format!("0193a5f2-7c1e-7a00-8000-{n:012}"),
            "email": format!("user{n}@example.com"),
            "username": format!("user{n}"),
            "phone": null,
            "first_name": "Ann",
            "last_name": "Lee",
            "roles": ["user"],
            "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo",
            "at": "2026-11-22T09:00:00.000000Z"
        }),
        personal_fields: vec![],
    }
}

async fn seed(db: &TestDb, events: u64) {
    let opened = db.open().await.expect("open");
    let metadata = EventMetadata {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) bench".into()),
        request_id: Some("0193a5f2-7c1e-7a00-8000-000000000000".into()),
        correlation_id: Some(uuid::Uuid::now_v7()),
        ..Default::default()
    };
    let appends = events / EVENTS_PER_APPEND;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CONCURRENT_APPENDS {
        let log = opened.log.clone();
        let metadata = metadata.clone();
        tasks.spawn(async move {
            let mut append = worker;
            while append < appends {
                let first = append * EVENTS_PER_APPEND;
                let mut request = AppendRequest::new(
                    format!("stream-{append}"),
                    "user",
                    ExpectedVersion::NoStream,
                    (first..first + EVENTS_PER_APPEND).map(event).collect(),
                );
                request.metadata = metadata.clone();
                log.append(request).await.expect("append");
                append += CONCURRENT_APPENDS;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("seeding task");
    }
    eprintln!(
        "seeded {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Autovacuum would otherwise digest the fresh rows while the first command runs.
    if db.backend == Backend::Postgres {
        TestDb::execute(&opened.database, "VACUUM (ANALYZE) events")
            .await
            .expect("vacuum");
    }
}

/// The high-water mark of a process's resident memory, in KiB (Linux).
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the binary; returns seconds and peak RSS in MiB (its high-water mark, read every 5 ms
/// while it runs: the mark only grows, so at most the last 5 ms can be missed).
fn run(url: &str, dir: &Path, args: &[&str]) -> (f64, f64) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_idlog"))
        .current_dir(dir)
        .args(args)
        .env("IDLOG_DATABASE_URL", url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn idlog");
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let seconds = started.elapsed().as_secs_f64();
    assert!(status.success(), "idlog {args:?} failed");
    (seconds, peak as f64 / 1024.0)
}

#[tokio::main]
async fn main() {
    let events: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    println!("| backend | events | command | seconds | events/s | peak memory |");
    println!("|---|---:|---|---:|---:|---:|");
    for backend in backends.split(',') {
        let backend = match backend.trim() {
            "postgres" => Backend::Postgres,
            "sqlite" => Backend::Sqlite,
            other => panic!("unknown backend {other}"),
        };
        let db = TestDb::new(backend).await.expect("test database");
        seed(&db, events).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let ndjson = dir.path().join("log.ndjson");
        let csv = dir.path().join("log.csv");
        let ndjson = ndjson.to_str().expect("path");
        let csv = csv.to_str().expect("path");
        let commands: [(&str, Vec<&str>); 4] = [
            ("events verify", vec!["events", "verify"]),
            (
                "events export --format ndjson",
                vec![
                    "events", "export", "--format", "ndjson", "-o", ndjson, "--yes",
                ],
            ),
            (
                "events export --format csv",
                vec!["events", "export", "--format", "csv", "-o", csv, "--yes"],
            ),
            (
                "events verify --export (offline, NDJSON)",
                vec!["events", "verify", "--export", ndjson],
            ),
        ];
        for (name, args) in commands {
            let (seconds, peak) = run(&db.url, dir.path(), &args);
            println!(
                "| {backend:?} | {events} | `{name}` | {seconds:.1} | {:.0} | {peak:.0} MiB |",
                events as f64 / seconds
            );
        }
    }
}
