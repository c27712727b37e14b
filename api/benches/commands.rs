//! Non-hashing commands over real HTTP: profile updates by users, and locks and unlocks by an
//! administrator, from 32 concurrent clients, on PostgreSQL and SQLite. Throughput, p50 and p99,
//! under two loads:
//!
//! - saturating: each client sends its next command as soon as the last one is answered (a
//!   closed loop). This finds the most commands per second; its latency is set by that rate
//!   (Little's law: 32 clients in flight at N commands/s wait 32/N seconds on average).
//! - paced: the 32 clients together send `RATE` commands per second (default 3,000) on a fixed
//!   schedule, each every 32/`RATE` seconds (an open loop). This is the latency a client sees at
//!   that load. A command is timed from when it was due, so a client held up by a slow answer
//!   counts the delay (no coordinated omission); one that waited for its turn is timed from when
//!   it was sent.
//!
//! Each measurement runs one second first without recording it (the clients open their
//! connections; caches fill).
//!
//! Below each measurement, its stalls: runs of overlapping commands slower than the 10 ms
//! target, when and how long, and how late a 1 ms timer on the same runtime was meanwhile (late
//! timers mean the process was starved of CPU; punctual ones put the wait in the database or
//! the disk).
//!
//! Run: `cargo bench -p api --bench commands` (PostgreSQL from `TEST_DATABASE_URL`; seconds per
//! measurement from `BENCH_SECONDS`, default 5; `BACKENDS=postgres` or `sqlite` for one;
//! `LOADS=saturating` or `paced` for one; `RATE`).

use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENTS: usize = 32;
/// Run before each measurement, not recorded.
const WARM_UP: Duration = Duration::from_secs(1);
/// The latency target: slower commands are reported as stalls.
const TARGET: Duration = Duration::from_millis(10);
const PASSWORD: &str = "correct horse battery staple";

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5)
}

/// One user per client: their id and access token.
async fn users(app: &TestApp) -> Vec<(String, String)> {
    let mut users = Vec::new();
    for client in 0..CLIENTS {
        let email = format!("user{client}@example.com");
        let id = app.register(&email, PASSWORD).await;
        let token = app.login(&email, PASSWORD).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        users.push((id, token));
    }
    users
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// How the clients send their commands (see the module's documentation).
#[derive(Debug, Clone, Copy)]
enum Load {
    Saturating,
    Paced { per_second: f64 },
}

impl Load {
    fn wanted() -> Vec<Load> {
        let per_second = std::env::var("RATE")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(3000.0);
        let loads = std::env::var("LOADS").unwrap_or_else(|_| "saturating,paced".into());
        let mut wanted = Vec::new();
        for name in loads.split(',').map(str::trim) {
            match name {
                "saturating" => wanted.push(Load::Saturating),
                "paced" => wanted.push(Load::Paced { per_second }),
                other => panic!("LOADS: unknown load {other}"),
            }
        }
        wanted
    }

    fn describe(self) -> String {
        match self {
            Load::Saturating => "saturating".into(),
            Load::Paced { per_second } => format!("paced at {per_second:.0}/s"),
        }
    }
}

/// Runs `CLIENTS` loops of `command` for the configured time under `load`; prints throughput
/// and latency.
async fn measure<F, Fut>(label: &str, load: Load, command: Arc<F>)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let recording_from = started + WARM_UP;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (command, stop) = (command.clone(), stop.clone());
            tokio::spawn(async move {
                // (when it was due, how long it took)
                let mut latencies = Vec::new();
                let mut n = 0;
                // Paced: this client's first turn, and the time between its turns; the
                // clients' turns are staggered.
                let schedule = match load {
                    Load::Saturating => None,
                    Load::Paced { per_second } => {
                        let interval = Duration::from_secs_f64(CLIENTS as f64 / per_second);
                        Some((
                            started + interval * client as u32 / CLIENTS as u32,
                            interval,
                        ))
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    let began = match schedule {
                        None => Instant::now(),
                        Some((first, interval)) => {
                            let due = first + interval * n as u32;
                            if Instant::now() < due {
                                tokio::time::sleep_until(due.into()).await;
                                Instant::now()
                            } else {
                                due
                            }
                        }
                    };
                    command(client, n).await;
                    if began >= recording_from {
                        latencies.push((began, began.elapsed()));
                    }
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let timer = tokio::spawn(timer_lateness(stop.clone()));
    tokio::time::sleep_until((recording_from + Duration::from_secs(seconds())).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut timed = Vec::new();
    for client in clients {
        timed.extend(client.await.expect("client"));
    }
    let lateness = timer.await.expect("timer");
    let elapsed = recording_from.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = timed.iter().map(|(_, latency)| *latency).collect();
    latencies.sort_unstable();
    println!(
        "{label}, {}: {:.0} commands/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms (n={})",
        load.describe(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.9).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        percentile(&latencies, 1.0).as_secs_f64() * 1000.0,
        latencies.len()
    );
    for stall in stalls(timed) {
        let late = lateness
            .iter()
            // Wake-ups whose sleep overlapped the stall.
            .filter(|(at, late)| *at <= stall.to && *at + *late >= stall.from)
            .map(|(_, late)| *late)
            .max()
            .unwrap_or_default();
        println!(
            "  stall at {:.2} s: {:.0} ms, {} commands over {} ms (slowest {:.1} ms); the runtime's 1 ms timer at most {:.1} ms late",
            stall.from.duration_since(recording_from).as_secs_f64(),
            stall.to.duration_since(stall.from).as_secs_f64() * 1000.0,
            stall.commands,
            TARGET.as_millis(),
            stall.slowest.as_secs_f64() * 1000.0,
            late.as_secs_f64() * 1000.0
        );
    }
}

/// A run of overlapping commands slower than the target.
struct Stall {
    from: Instant,
    to: Instant,
    commands: usize,
    slowest: Duration,
}

fn stalls(mut timed: Vec<(Instant, Duration)>) -> Vec<Stall> {
    timed.retain(|(_, latency)| *latency > TARGET);
    timed.sort_unstable();
    let mut stalls: Vec<Stall> = Vec::new();
    for (began, latency) in timed {
        match stalls.last_mut() {
            Some(stall) if began <= stall.to => {
                stall.to = stall.to.max(began + latency);
                stall.commands += 1;
                stall.slowest = stall.slowest.max(latency);
            }
            _ => stalls.push(Stall {
                from: began,
                to: began + latency,
                commands: 1,
                slowest: latency,
            }),
        }
    }
    stalls
}

/// Until `stop`: sleeps 1 ms at a time on the runtime, and keeps (when, how late) for every
/// wake-up more than 1 ms late.
async fn timer_lateness(stop: Arc<AtomicBool>) -> Vec<(Instant, Duration)> {
    const TICK: Duration = Duration::from_millis(1);
    let mut late = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let asleep = Instant::now();
        tokio::time::sleep(TICK).await;
        // Tokio's timer rounds up to the next millisecond: up to 1 ms late is on time.
        let lateness = asleep.elapsed().saturating_sub(TICK * 2);
        if !lateness.is_zero() {
            late.push((asleep, lateness));
        }
    }
    late
}

async fn bench(backend: Backend, loads: &[Load]) {
    let app = Arc::new(spawn_app_with(backend, Options::default()).await);
    let (_, admin) = app.admin().await;
    let users = Arc::new(users(&app).await);

    let (profile_app, profile_users) = (app.clone(), users.clone());
    let update_profile = Arc::new(move |client: usize, n: u64| {
        let (app, users) = (profile_app.clone(), profile_users.clone());
        async move {
            let (id, token) = &users[client];
            let body = json!({"preferred_language": if n % 2 == 0 { "en" } else { "pt-BR" }, "notification_preferences": {"n": n}});
            let response = app
                .client
                .put(app.url(&format!("/api/v1/users/{id}/profile")))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("put");
            let status = response.status();
            assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
            response.bytes().await.expect("body");
        }
    });

    let (lock_app, lock_users, admin) = (app.clone(), users.clone(), Arc::new(admin));
    let lock_and_unlock = Arc::new(move |client: usize, n: u64| {
        let (app, users, admin) = (lock_app.clone(), lock_users.clone(), admin.clone());
        async move {
            let (id, _) = &users[client];
            let request = if n % 2 == 0 {
                app.client
                    .post(app.url(&format!("/api/v1/users/{id}/lock")))
                    .json(&json!({"reason": "benchmark"}))
            } else {
                app.client
                    .post(app.url(&format!("/api/v1/users/{id}/unlock")))
            };
            let response = request
                .bearer_auth(admin.as_str())
                .send()
                .await
                .expect("lock");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
    });

    // Every profile load first: locking a user ends their sessions, so their tokens.
    let profile = format!("{backend:?} PUT /users/{{id}}/profile (own)");
    let locks = format!("{backend:?} POST /users/{{id}}/lock and /unlock (admin)");
    for &load in loads {
        measure(&profile, load, update_profile.clone()).await;
    }
    for &load in loads {
        measure(&locks, load, lock_and_unlock.clone()).await;
    }
}

#[tokio::main]
async fn main() {
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    let loads = Load::wanted();
    for (name, backend) in [("postgres", Backend::Postgres), ("sqlite", Backend::Sqlite)] {
        if backends.split(',').any(|wanted| wanted.trim() == name) {
            bench(backend, &loads).await;
        }
    }
}
