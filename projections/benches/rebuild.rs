//! Rebuild throughput: every read model replayed from a log of `EVENTS` events (default
//! 1,000,000) of a realistic mix, on PostgreSQL (`TEST_DATABASE_URL`) and SQLite.
//! Run: `cargo bench -p projections --bench rebuild` (`BACKENDS=postgres` or `sqlite` for one).
//! By default it writes two logs, personal data in clear and encrypted, and rebuilds them in
//! turn `ROUNDS` times (default 3), printing the medians and what encryption costs;
//! `ENCRYPTION=on` or `off` writes and rebuilds one log only.
//!
//! The mix per user: a registration, often an email verification and a profile update, two
//! failed logins (one user in ten then locked), three logins, each with its session started,
//! refreshed twice and ended: about 20 events per user, in the proportions a busy service sees.

use chrono::Utc;
use domain::DomainEvent;
use domain::session::{EndReason, SessionEvent};
use domain::user::{LockKind, UserEvent};
use domain::values::{Email, PasswordHash, PersonName, Profile, Role, TokenHash};
use domain::{Duration, SessionId, UserId};
use eventstore::testing::{Backend, TestDb};
use eventstore::{
    Actor, ActorKind, AppendRequest, EventLog, EventMetadata, ExpectedVersion, NewEvent, Opened,
};
use projections::{Projector, ProjectorSettings};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn request<E: DomainEvent>(
    stream_type: &str,
    stream_id: &str,
    user: &str,
    events: &[E],
) -> AppendRequest {
    let mut request = AppendRequest::new(
        stream_id,
        stream_type,
        ExpectedVersion::Any,
        events
            .iter()
            .map(|event| NewEvent {
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload: event.to_payload().expect("payload"),
                personal_fields: event
                    .personal_fields()
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect(),
            })
            .collect(),
    );
    request.metadata = EventMetadata {
        actor: Actor {
            kind: ActorKind::User,
            id: Some(user.to_owned()),
        },
        ip: Some("198.51.100.23".into()),
        user_agent: Some("Mozilla/5.0 (bench)".into()),
        ..EventMetadata::default()
    };
    request.data_subject = Some(user.to_owned());
    request
}

/// Appends one user's history; returns how many events.
async fn one_user(log: &EventLog, n: u64) -> u64 {
    let id = UserId::from_uuid(uuid::Uuid::now_v7());
    let user = id.to_string();
    let at = Utc::now() - Duration::days(i64::try_from(n % 60).unwrap_or(0));
    let mut events = vec![UserEvent::UserRegistered {
        user_id: id,
        email: Email::parse(&format!("user{n}@example.com"))
            .expect("email")
            .into(),
        username: None,
        phone: None,
        first_name: Some(PersonName::parse("Ann").expect("name")),
        last_name: Some(PersonName::parse("Lee").expect("name")),
        roles: [Role::parse("user").expect("role")].into(),
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        preferred_language: None,
        at,
    }];
    if n % 2 == 0 {
        events.push(UserEvent::EmailVerified {
            email: Email::parse(&format!("user{n}@example.com"))
                .expect("email")
                .into(),
            by_hand: None,
            at,
        });
    }
    events.push(UserEvent::ProfileUpdated {
        first_name: Some(PersonName::parse("Ann").expect("name")),
        last_name: Some(PersonName::parse("Lee-Smith").expect("name")),
        profile: Profile::default(),
        at,
    });
    for attempt in 1..=2 {
        events.push(UserEvent::LoginFailed {
            failed_attempts: attempt,
            at,
        });
    }
    if n % 10 == 0 {
        events.push(UserEvent::AccountLocked {
            kind: LockKind::Policy,
            reason: None,
            until: Some(at + Duration::minutes(15)),
            at,
        });
    }
    let sessions: Vec<SessionId> = (0..3)
        .map(|_| SessionId::from_uuid(uuid::Uuid::now_v7()))
        .collect();
    for session in &sessions {
        events.push(UserEvent::LoginSucceeded {
            session_id: Some(*session),
            at,
        });
    }
    let mut count = events.len() as u64;
    log.append(request("user", &user, &user, &events))
        .await
        .expect("user events");
    for session in sessions {
        let events = [
            SessionEvent::SessionStarted {
                session_id: session,
                user_id: id,
                client: domain::session::SessionClient::Api,
                device: None,
                ip: Some("198.51.100.23".parse().expect("ip")),
                user_agent: None,
                refresh_token_hash: TokenHash::from_bytes([1; 32]),
                idle_timeout_seconds: 1800,
                expires_at: at + Duration::days(30),
                at,
            },
            SessionEvent::SessionRefreshed {
                refresh_token_hash: TokenHash::from_bytes([2; 32]),
                at,
            },
            SessionEvent::SessionRefreshed {
                refresh_token_hash: TokenHash::from_bytes([3; 32]),
                at,
            },
            SessionEvent::SessionEnded {
                reason: EndReason::Logout,
                at,
            },
        ];
        log.append(request("session", &session.to_string(), &user, &events))
            .await
            .expect("session events");
        count += events.len() as u64;
    }
    count
}

async fn generate(log: &EventLog, target: u64) -> u64 {
    let written = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (log, written, next) = (log.clone(), written.clone(), next.clone());
            tokio::spawn(async move {
                while written.load(Ordering::Relaxed) < target {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let count = one_user(&log, n).await;
                    written.fetch_add(count, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("generator");
    }
    written.load(Ordering::Relaxed)
}

fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A fresh log of `target` events, personal data encrypted or in clear.
async fn generated(backend: Backend, encrypted: bool, target: u64) -> (TestDb, Opened, u64) {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = if encrypted {
        db.open().await.expect("open")
    } else {
        eventstore::open(&db.url, 16).await.expect("open")
    };
    let started = Instant::now();
    let events = generate(&opened.log, target).await;
    println!(
        "{backend:?}: generated {events} events, encrypted: {encrypted}, in {:.1}s (peak memory so far {:.0} MiB)",
        started.elapsed().as_secs_f64(),
        peak_memory_mib()
    );
    let reading = Instant::now();
    let mut position = 0;
    loop {
        let batch = opened.log.read_all(position, 1000).await.expect("read");
        let Some(last) = batch.last() else { break };
        position = last.global_position;
    }
    println!(
        "{backend:?}: reading and decoding the log alone: {:.1}s",
        reading.elapsed().as_secs_f64()
    );
    (db, opened, events)
}

/// Rebuilds every read model once; returns events per second.
async fn rebuild(backend: Backend, label: &str, opened: &Opened, events: u64) -> f64 {
    let projector = Projector::new(
        opened.database.clone(),
        opened.log.clone(),
        projections::all(),
        ProjectorSettings::default(),
    );
    projector.prepare().await.expect("prepared");
    let all = Instant::now();
    let reports = projector
        .rebuild_all(None, &|_, _| {})
        .await
        .expect("rebuilt");
    for report in reports {
        println!(
            "{backend:?} {label}: {:<10} {:>9} events in {:>6.1}s = {:>8.0} events/s (concurrently with the others)",
            report.name,
            report.events,
            report.seconds,
            report.events as f64 / report.seconds
        );
    }
    let seconds = all.elapsed().as_secs_f64();
    let rate = events as f64 / seconds;
    println!(
        "{backend:?} {label}: all read models: {events} events in {seconds:.1}s = {rate:.0} events/s (each event read by every projection); peak memory {:.0} MiB",
        peak_memory_mib()
    );
    rate
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `ENCRYPTION=on` or `off`: one log, rebuilt `ROUNDS` times. Otherwise both logs, rebuilt in
/// turn (alternating which goes first), so that the machine's drift falls on both alike.
async fn bench(backend: Backend, target: u64, rounds: usize) {
    let modes: Vec<bool> = match std::env::var("ENCRYPTION").as_deref() {
        Ok("on") => vec![true],
        Ok("off") => vec![false],
        _ => vec![false, true],
    };
    let mut logs = Vec::new();
    for encrypted in &modes {
        logs.push((*encrypted, generated(backend, *encrypted, target).await));
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); logs.len()];
    for round in 0..rounds {
        for turn in 0..logs.len() {
            let index = (turn + round) % logs.len();
            let (encrypted, (_, opened, events)) = &logs[index];
            let label = if *encrypted { "encrypted" } else { "in clear" };
            rates[index].push(rebuild(backend, label, opened, *events).await);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    for ((encrypted, _), median) in logs.iter().zip(&medians) {
        println!(
            "{backend:?}: median of {rounds} rebuilds, encrypted: {encrypted}: {median:.0} events/s"
        );
    }
    if let [clear, encrypted] = medians[..] {
        println!(
            "{backend:?}: encryption costs the rebuild {:+.1} % (medians)",
            (encrypted / clear - 1.0) * 100.0
        );
    }
}

#[tokio::main]
async fn main() {
    let target: u64 = std::env::var("EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3)
        .max(1);
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    for backend in backends.split(',') {
        match backend.trim() {
            "postgres" => bench(Backend::Postgres, target, rounds).await,
            "sqlite" => bench(Backend::Sqlite, target, rounds).await,
            other => eprintln!("unknown backend {other}"),
        }
    }
}
