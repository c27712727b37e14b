//! What counting requests for `/metrics` costs: `GET /api/v1/auth/me` from 32 clients in a
//! closed loop, against one server that counts every request (counter by route and status,
//! latency histogram) and one that does not, in the same process, alternating rounds so both
//! see the same machine. Prints each round and the medians; the target is a cost under 3 %.
//!
//! Run: `cargo bench -p api --bench metrics` (SQLite; `ROUNDS`, default 7, and `BENCH_SECONDS`
//! per round, default 3).

use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENTS: usize = 32;
const PASSWORD: &str = "correct horse battery staple";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// A server and one signed-in user's token per client.
async fn server(count_requests: bool) -> (TestApp, Vec<String>) {
    let options = Options {
        count_requests,
        ..Options::default()
    };
    let app = spawn_app_with(Backend::Sqlite, options).await;
    let mut tokens = Vec::new();
    for client in 0..CLIENTS {
        let email = format!("user{client}@example.com");
        app.register(&email, PASSWORD).await;
        let token = app.login(&email, PASSWORD).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        tokens.push(token);
    }
    (app, tokens)
}

/// Requests per second over one round.
async fn round(app: &TestApp, tokens: &[String], seconds: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let url = app.url("/api/v1/auth/me");
    let clients: Vec<_> = tokens
        .iter()
        .map(|token| {
            let (client, url, token) = (app.client.clone(), url.clone(), token.clone());
            let (stop, done) = (stop.clone(), done.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let response = client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Connections open and caches fill before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (from, started) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let answered = done.load(Ordering::Relaxed) - from;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client");
    }
    answered as f64 / elapsed
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let rounds = setting("ROUNDS", 7);
        let seconds = setting("BENCH_SECONDS", 3);
        let (counting, counting_tokens) = server(true).await;
        let (silent, silent_tokens) = server(false).await;
        let (mut with, mut without) = (Vec::new(), Vec::new());
        println!("GET /api/v1/auth/me, {CLIENTS} clients, SQLite, {rounds} rounds of {seconds} s");
        for n in 0..rounds {
            // Alternate which goes first, so neither always meets the warmer machine.
            let order = if n % 2 == 0 { [true, false] } else { [false, true] };
            for counts in order {
                let rate = if counts {
                    round(&counting, &counting_tokens, seconds).await
                } else {
                    round(&silent, &silent_tokens, seconds).await
                };
                println!(
                    "round {}: {} {rate:.0}/s",
                    n + 1,
                    if counts { "counting   " } else { "not counting" }
                );
                if counts { &mut with } else { &mut without }.push(rate);
            }
        }
        let (with, without) = (median(&mut with), median(&mut without));
        println!(
            "median: counting {with:.0}/s, not counting {without:.0}/s: counting costs {:.1} % (target < 3 %)",
            (1.0 - with / without) * 100.0
        );
    });
}
