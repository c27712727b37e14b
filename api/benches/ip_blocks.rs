//! Refreshing sessions over real HTTP with 1,000 blocked addresses and ranges against the same
//! with none, in one run, rounds interleaved (blocks, none, none, blocks, ...) so that the
//! machine's drift falls on both alike. A refresh is the cheapest request the block list
//! guards (no password hash), so the list's price shows most there.
//!
//! Run: `cargo bench -p api --bench ip_blocks` (PostgreSQL from `TEST_DATABASE_URL`;
//! `BACKENDS=postgres` or `sqlite` for one; `ROUNDS`, default 5, of `ROUND_SECONDS`, default 2,
//! per arm).

use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::{Value, json};

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;
use support::{Arm, closed_loop, median, setting};

const CLIENTS: usize = 16;
const BLOCKS: usize = 1_000;
const PASSWORD: &str = "correct horse battery staple";

/// A server with `blocks` blocks (none of them the clients' address) and a signed-in session
/// per client: their refresh tokens.
async fn server(backend: Backend, blocks: usize) -> (TestApp, Vec<String>) {
    let app = spawn_app_with(backend, Options::default()).await;
    let (_, admin) = app.admin().await;
    for n in 0..blocks {
        // Addresses of 10.0.0.0/8 one by one, and every tenth a range of 172.16.0.0/12.
        let network = if n % 10 == 0 {
            format!("172.{}.{}.0/24", 16 + (n / 2560) % 16, (n / 10) % 256)
        } else {
            format!("10.{}.{}.{}", n / 65_536, (n / 256) % 256, n % 256)
        };
        let answer = app
            .send(
                reqwest::Method::POST,
                "/api/v1/ip-blocks",
                &admin,
                Some(json!({"network": network, "reason": "benchmark"})),
                &[],
            )
            .await;
        assert_eq!(answer.status(), 201, "{network}");
    }
    app.register("ann@example.com", PASSWORD).await;
    let mut tokens = Vec::new();
    for _ in 0..CLIENTS {
        let login = app.login("ann@example.com", PASSWORD).await;
        tokens.push(login["refresh_token"].as_str().expect("token").to_owned());
    }
    (app, tokens)
}

/// Each client refreshes its session as fast as it is answered for `seconds`, keeping the
/// rotated token.
async fn round(app: &TestApp, tokens: &mut [String], seconds: u64) -> Arm {
    let clients = tokens.iter_mut().collect();
    closed_loop(clients, seconds, async |token: &mut &mut String| {
        let answer = app
            .post("/api/v1/auth/refresh", &json!({"refresh_token": token}))
            .await;
        assert_eq!(answer.status(), 200);
        let rotated: Value = answer.json().await.expect("json");
        **token = rotated["refresh_token"].as_str().expect("token").to_owned();
    })
    .await
}

async fn measure(backend: Backend) {
    let (blocked, mut blocked_tokens) = server(backend, BLOCKS).await;
    let (open, mut open_tokens) = server(backend, 0).await;
    let (rounds, seconds) = (setting("ROUNDS", 5), setting("ROUND_SECONDS", 2));
    // Warm-up, not recorded: connections, caches.
    round(&blocked, &mut blocked_tokens, 1).await;
    round(&open, &mut open_tokens, 1).await;
    println!("{CLIENTS} clients, {backend:?}, {rounds} rounds of {seconds} s per arm");
    println!(
        "| round | {BLOCKS} blocks | p50 ms | p99 ms | no blocks | p50 ms | p99 ms | blocks / none |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for n in 1..=rounds {
        let (with_blocks, without) = if n % 2 == 1 {
            let with_blocks = round(&blocked, &mut blocked_tokens, seconds).await;
            (with_blocks, round(&open, &mut open_tokens, seconds).await)
        } else {
            let without = round(&open, &mut open_tokens, seconds).await;
            (round(&blocked, &mut blocked_tokens, seconds).await, without)
        };
        let (mut with_blocks, mut without) = (with_blocks, without);
        let ratio = with_blocks.per_second() / without.per_second();
        ratios.push(ratio);
        println!(
            "| {n} | {:.0}/s | {:.2} | {:.2} | {:.0}/s | {:.2} | {:.2} | {ratio:.2} |",
            with_blocks.per_second(),
            with_blocks.quantile(0.5),
            with_blocks.quantile(0.99),
            without.per_second(),
            without.quantile(0.5),
            without.quantile(0.99),
        );
    }
    println!(
        "{backend:?}: median blocks / none refresh throughput {:.2}",
        median(ratios)
    );
}

fn main() {
    support::on_each_backend(measure);
}
