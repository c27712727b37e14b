//! Live read-model lag over real HTTP: an administrator renames users at a steady `RATE`
//! commands/s (default 500) for `BENCH_SECONDS` (default 10); after each answer, a
//! `GET /users?min_position=<its X-Log-Position>` measures how long until the write is visible
//! in the users list. On PostgreSQL and SQLite.
//!
//! Run: `cargo bench -p api --bench lag`.

use eventstore::testing::Backend;
use idlog::testing::{Options, spawn_app_with};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 64;
const PASSWORD: &str = "correct horse battery staple";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

async fn bench(backend: Backend) {
    let rate = env("RATE", 500);
    let seconds = env("BENCH_SECONDS", 10);
    let app = Arc::new(spawn_app_with(backend, Options::default()).await);
    let (_, admin) = app.admin().await;
    let admin = Arc::new(admin);
    let mut ids = Vec::new();
    for n in 0..USERS {
        ids.push(
            app.register(&format!("user{n}@example.com"), PASSWORD)
                .await,
        );
    }
    let ids = Arc::new(ids);
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        ticker.tick().await;
        let (app, admin, ids) = (app.clone(), admin.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let id = &ids[usize::try_from(n).unwrap_or(0) % USERS];
            let response = app
                .client
                .patch(app.url(&format!("/api/v1/users/{id}")))
                .bearer_auth(admin.as_str())
                .json(&json!({"first_name": format!("N{n}")}))
                .send()
                .await
                .expect("patch");
            assert_eq!(
                response.status(),
                200,
                "{}",
                response.text().await.unwrap_or_default()
            );
            let position = response.headers()["x-log-position"]
                .to_str()
                .expect("ascii")
                .to_owned();
            let answered = Instant::now();
            let visible = app
                .client
                .get(app.url(&format!("/api/v1/users?min_position={position}&limit=1")))
                .bearer_auth(admin.as_str())
                .send()
                .await
                .expect("get");
            assert_eq!(visible.status(), 200);
            visible.bytes().await.expect("body");
            answered.elapsed()
        }));
    }
    let mut lags = Vec::with_capacity(tasks.len());
    for task in tasks {
        lags.push(task.await.expect("command"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    lags.sort_unstable();
    println!(
        "{backend:?}: {:.0} commands/s offered {rate}/s; append to visible in GET /users: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        lags.len() as f64 / elapsed,
        percentile(&lags, 0.5).as_secs_f64() * 1000.0,
        percentile(&lags, 0.99).as_secs_f64() * 1000.0,
        lags.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        lags.len()
    );
}

#[tokio::main]
async fn main() {
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    for backend in backends.split(',') {
        match backend.trim() {
            "postgres" => bench(Backend::Postgres).await,
            "sqlite" => bench(Backend::Sqlite).await,
            other => eprintln!("unknown backend {other}"),
        }
    }
}
