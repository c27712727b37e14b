//! What encrypting personal data costs: appends and reads with the encrypting codec against the
//! same with personal data in clear, on fresh databases of each backend.
//! Run: `cargo bench -p eventstore --bench encryption` (`BACKENDS=postgres` or `sqlite` for one;
//! `BENCH_SECONDS` per round, default 3; rounds alternate plain and encrypted, `ROUNDS` each,
//! default 3).
//!
//! Appends: 32 callers, each appending registration-sized events (email and names personal,
//! metadata with address and user agent) to its own user streams: every 10th append starts a new
//! user, whose data key is created then (as a registration does). Reads: the whole log read back
//! and decoded in batches of 1,000, as the projector's rebuild reads it; and decoding alone (one
//! stored batch decoded again and again). The allocator is the binary's (mimalloc).

use eventstore::testing::{Backend, TestDb};
use eventstore::{AppendRequest, EventLog, ExpectedVersion, NewEvent, RecordedEvent};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CALLERS: usize = 32;
/// Rounds of each mode (`ROUNDS`, default 3).
fn rounds() -> usize {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3)
}
/// A new user every this many appends of a caller (`EVENTS_PER_USER`, default 10).
fn events_per_user() -> u64 {
    std::env::var("EVENTS_PER_USER")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10)
}

fn request(caller: usize, round: usize, n: u64) -> AppendRequest {
    let per_user = events_per_user();
    let user = format!(
        "0193a5f2-7c1e-7a00-{round:04}-{caller:04}{:08}",
        n / per_user
    );
    let version = n % per_user;
    let expected = if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(version)
    };
    let event = NewEvent {
        event_type: "ProfileUpdated".into(),
        schema_version: 1,
        payload: json!({
            "email": format!("user{caller}-{n}@example.com"),
            "first_name": "Ann",
            "last_name": "Lee",
            "roles": ["user"],
            "at": "2026-11-22T09:00:00.000000Z"
        }),
        personal_fields: vec!["/email".into(), "/first_name".into(), "/last_name".into()],
    };
    let mut request = AppendRequest::new(user.clone(), "user", expected, vec![event]);
    request.metadata.actor.id = Some(user.clone());
    request.metadata.ip = Some("198.51.100.23".into());
    request.metadata.user_agent = Some("Mozilla/5.0 (bench)".into());
    request.data_subject = Some(user);
    request
}

async fn appends(log: &EventLog, seconds: u64, round: usize) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (log, stop, done) = (log.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    log.append(request(caller, round, n)).await.expect("append");
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
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn reads(log: &EventLog) -> (u64, f64) {
    let started = Instant::now();
    let (mut position, mut count) = (0, 0);
    loop {
        let batch = log.read_all(position, 1000).await.expect("read");
        let Some(last) = batch.last() else { break };
        position = last.global_position;
        count += batch.len() as u64;
    }
    (count, count as f64 / started.elapsed().as_secs_f64())
}

async fn bench(backend: Backend, seconds: u64) {
    let plain_db = TestDb::new(backend).await.expect("database");
    let plain = eventstore::open(&plain_db.url, 16).await.expect("open").log;
    let sealed_db = TestDb::new(backend).await.expect("database");
    let sealed = sealed_db.open().await.expect("open").log;
    let (mut plain_rates, mut sealed_rates) = (Vec::new(), Vec::new());
    for round in 0..rounds() {
        plain_rates.push(appends(&plain, seconds, round).await);
        sealed_rates.push(appends(&sealed, seconds, round).await);
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let median = |rates: &[f64]| {
        let mut sorted = rates.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let (plain_rate, sealed_rate) = (mean(&plain_rates), mean(&sealed_rates));
    println!(
        "{backend:?} appends, {CALLERS} callers: in clear {plain_rate:.0}/s, encrypted {sealed_rate:.0}/s \
         ({:+.1} %; medians {:+.1} %); rounds {plain_rates:.0?} / {sealed_rates:.0?}",
        (sealed_rate / plain_rate - 1.0) * 100.0,
        (median(&sealed_rates) / median(&plain_rates) - 1.0) * 100.0
    );
    // What the database stores per event: payload and metadata text.
    for (name, log) in [("in clear", &plain), ("encrypted", &sealed)] {
        let stored = log.read_all_stored(0, 1000).await.expect("stored");
        let bytes: usize = stored
            .iter()
            .map(|event| event.payload.as_str().len() + event.metadata.as_str().len())
            .sum();
        println!(
            "{backend:?} stored JSON per event, {name}: {} bytes",
            bytes / stored.len().max(1)
        );
    }
    // Each read twice, alternating; the second of each counts (warm caches for both).
    let mut results = Vec::new();
    for _ in 0..2 {
        results = vec![reads(&plain).await, reads(&sealed).await];
    }
    // The codec alone: the same stored batch decoded again and again, no database.
    for (name, log) in [("in clear", &plain), ("encrypted", &sealed)] {
        let batch: Vec<RecordedEvent> = log
            .read_all_stored(0, 1000)
            .await
            .expect("stored")
            .into_iter()
            .map(|event| event.into_tree().expect("json"))
            .collect();
        let started = Instant::now();
        let mut decoded = 0;
        while started.elapsed() < Duration::from_secs(1) {
            decoded += log
                .decode_stored(batch.clone())
                .await
                .expect("decode")
                .len();
        }
        println!(
            "{backend:?} decoding alone, {name}: {:.0} events/s",
            decoded as f64 / started.elapsed().as_secs_f64()
        );
    }
    let (plain_events, plain_read) = results[0];
    let (sealed_events, sealed_read) = results[1];
    println!(
        "{backend:?} reads and decodes: in clear {plain_events} events at {plain_read:.0}/s, encrypted \
         {sealed_events} events at {sealed_read:.0}/s ({:+.1} %)",
        (sealed_read / plain_read - 1.0) * 100.0
    );
}

#[tokio::main]
async fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3);
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    for backend in backends.split(',') {
        match backend.trim() {
            "postgres" => bench(Backend::Postgres, seconds).await,
            "sqlite" => bench(Backend::Sqlite, seconds).await,
            other => panic!("unknown backend {other}"),
        }
    }
}
