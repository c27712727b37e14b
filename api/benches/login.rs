//! Login benchmarks over real HTTP with OWASP's argon2id parameters, on SQLite and PostgreSQL:
//!
//! 1. login throughput against this machine's raw argon2id verify rate (same parameters, as
//!    many threads as the hashing pool has permits: the cores);
//! 2. `GET /auth/me` latency while logins saturate the hashing pool;
//! 3. median latency of an unknown-account login against a wrong-password login.
//!
//! Run: `cargo bench -p api --bench login` (PostgreSQL from `TEST_DATABASE_URL`; seconds per
//! measurement from `BENCH_SECONDS`, default 5).

use application::credentials::password::PasswordSettings;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const USERS: usize = 64;
const LOGIN_CALLERS: usize = 16;

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Verifies per second on `threads` threads with OWASP's parameters, no server involved.
fn raw_verify_rate(threads: usize, seconds: u64) -> f64 {
    let settings = PasswordSettings::default();
    let params = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    )
    .expect("params");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let hash = argon2
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (argon2, hash, stop, done) =
                (argon2.clone(), hash.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let parsed = argon2::PasswordHash::new(&hash).expect("phc");
                while !stop.load(Ordering::Relaxed) {
                    argon2
                        .verify_password(PASSWORD.as_bytes(), &parsed)
                        .expect("verifies");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn bench_app(backend: Backend) -> TestApp {
    let mut options = Options {
        passwords: PasswordSettings::default(),
        hashing_concurrency: cores(),
        ..Options::default()
    };
    // Wrong passwords are measured many times over: count them, never lock.
    options.auth.lockout.max_failed_attempts = u32::MAX;
    let app = spawn_app_with(backend, options).await;
    for user in 0..USERS {
        app.register(&format!("user{user}@example.com"), PASSWORD)
            .await;
    }
    app
}

/// Logs in as fast as `callers` clients can until `stop`; returns the number of logins.
fn login_load(
    app: &Arc<TestApp>,
    callers: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    (0..callers)
        .map(|caller| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) {
                    let user = (caller + done as usize * callers) % USERS;
                    let body =
                        json!({"login": format!("user{user}@example.com"), "password": PASSWORD});
                    let response = app.post("/api/v1/auth/login", &body).await;
                    assert_eq!(response.status(), 200);
                    done += 1;
                }
                done
            })
        })
        .collect()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn bench(backend: Backend, raw_rate: f64) {
    let app = Arc::new(bench_app(backend).await);
    let seconds = seconds();

    // 1. Throughput.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let load = login_load(&app, LOGIN_CALLERS, &stop);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut logins = 0;
    for caller in load {
        logins += caller.await.expect("caller");
    }
    let rate = logins as f64 / started.elapsed().as_secs_f64();
    println!(
        "{backend:?}: logins {rate:.1}/s with {LOGIN_CALLERS} clients vs raw verify {raw_rate:.1}/s: {:.2} of raw",
        rate / raw_rate
    );

    // 2. /auth/me while logins saturate the pool.
    let token = app.login("user0@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let load = login_load(&app, LOGIN_CALLERS, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let started = Instant::now();
        let response = app.get_with_token("/api/v1/auth/me", &token).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut logins_meanwhile = 0;
    for caller in load {
        logins_meanwhile += caller.await.expect("caller");
    }
    latencies.sort_unstable();
    println!(
        "{backend:?}: GET /auth/me under login load ({logins_meanwhile} logins meanwhile): n={} p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
    );

    // 3. Unknown account against wrong password, alternating, one at a time.
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for attempt in 0..(seconds as usize * 15).max(40) {
        for (login, samples) in [
            ("nobody@example.com", &mut unknown),
            ("user1@example.com", &mut wrong),
        ] {
            let body: Value = json!({"login": login, "password": format!("wrong guess {attempt}")});
            let started = Instant::now();
            let response = app.post("/api/v1/auth/login", &body).await;
            assert_eq!(response.status(), 401);
            response.bytes().await.expect("body");
            samples.push(started.elapsed());
        }
    }
    unknown.sort_unstable();
    wrong.sort_unstable();
    let (unknown_median, wrong_median) = (percentile(&unknown, 0.5), percentile(&wrong, 0.5));
    println!(
        "{backend:?}: login median: unknown account {:.2} ms, wrong password {:.2} ms: differ by {:.1}% (n={} each)",
        ms(unknown_median),
        ms(wrong_median),
        (ms(wrong_median) - ms(unknown_median)).abs() / ms(unknown_median) * 100.0,
        unknown.len()
    );
}

#[tokio::main]
async fn main() {
    let threads = cores();
    let raw = raw_verify_rate(threads, seconds());
    println!("raw argon2id verify (m=19456 KiB, t=2, p=1) on {threads} threads: {raw:.1}/s");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        bench(backend, raw).await;
    }
}
