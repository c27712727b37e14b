//! Non-hashing commands over real HTTP: profile updates by users, and locks and unlocks by an
//! administrator, from 32 concurrent clients, on PostgreSQL and SQLite. Throughput, p50 and p99.
//!
//! Run: `cargo bench -p api --bench commands` (PostgreSQL from `TEST_DATABASE_URL`; seconds per
//! measurement from `BENCH_SECONDS`, default 5; `BACKENDS=postgres` or `sqlite` for one).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Options, TestApp, spawn_app_with};
use eventstore::testing::Backend;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENTS: usize = 32;
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

/// Runs `CLIENTS` loops of `command` for the configured time; prints throughput and latency.
async fn measure<F, Fut>(label: &str, command: F)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let command = Arc::new(command);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (command, stop) = (command.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    command(client, n).await;
                    latencies.push(began.elapsed());
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds())).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "{label}: {:.0} commands/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms (n={})",
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.9).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        percentile(&latencies, 1.0).as_secs_f64() * 1000.0,
        latencies.len()
    );
}

async fn bench(backend: Backend) {
    let app = Arc::new(spawn_app_with(backend, Options::default()).await);
    let (_, admin) = app.admin().await;
    let users = Arc::new(users(&app).await);

    let (profile_app, profile_users) = (app.clone(), users.clone());
    measure(&format!("{backend:?} PUT /users/{{id}}/profile (own)"), move |client, n| {
        let (app, users) = (profile_app.clone(), profile_users.clone());
        async move {
            let (id, token) = &users[client];
            let body = json!({"preferred_language": if n % 2 == 0 { "en" } else { "pt-BR" }, "notification_preferences": {"n": n}});
            let response = app.client.put(app.url(&format!("/api/v1/users/{id}/profile"))).bearer_auth(token).json(&body).send().await.expect("put");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
    })
    .await;

    let (lock_app, lock_users, admin) = (app.clone(), users.clone(), Arc::new(admin));
    measure(
        &format!("{backend:?} POST /users/{{id}}/lock and /unlock (admin)"),
        move |client, n| {
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
        },
    )
    .await;
}

#[tokio::main]
async fn main() {
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    for (name, backend) in [("postgres", Backend::Postgres), ("sqlite", Backend::Sqlite)] {
        if backends.split(',').any(|wanted| wanted.trim() == name) {
            bench(backend).await;
        }
    }
}
