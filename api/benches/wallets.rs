//! Debiting wallets over real HTTP: 16 clients debiting one wallet at once against one client
//! debiting a wallet alone, and 16 clients each debiting a wallet of its own, in one run,
//! rounds interleaved so that the machine's drift falls on all alike.
//!
//! Debits of one wallet are decided one after another (commands on a stream take turns in a
//! process; the log commits a stream's appends one after another), so sixteen clients on one
//! wallet can do no better than one client alone; what they must not do is worse, which
//! deciding on the same balance and retrying would. Wallets of their own commit together.
//!
//! Run: `cargo bench -p api --bench wallets` (PostgreSQL from `TEST_DATABASE_URL`;
//! `BACKENDS=postgres` or `sqlite` for one; `ROUNDS`, default 5, of `ROUND_SECONDS`, default 2,
//! per arm).

use eventstore::testing::Backend;
use idlog::testing::{TestApp, spawn_app};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;
use support::{Arm, closed_loop, median, setting};

const CLIENTS: usize = 16;
const PASSWORD: &str = "correct horse battery staple";

/// A debit key no other debit of the run uses.
static KEYS: AtomicU64 = AtomicU64::new(0);

/// Each of `wallets.len()` clients per wallet group debits one credit at a time for `seconds`:
/// `clients` clients spread over `wallets` round-robin.
async fn round(
    app: &TestApp,
    admin: &str,
    wallets: &[String],
    clients: usize,
    seconds: u64,
) -> Arm {
    let paths = (0..clients)
        .map(|client| {
            format!(
                "/api/v1/users/{}/wallet/debit",
                wallets[client % wallets.len()]
            )
        })
        .collect();
    closed_loop(paths, seconds, async |path: &mut String| {
        let key = format!("debit-{}", KEYS.fetch_add(1, Ordering::Relaxed));
        let answer = app
            .send(
                reqwest::Method::POST,
                path,
                admin,
                Some(json!({"amount": 1, "reason": "benchmark"})),
                &[("idempotency-key", &key)],
            )
            .await;
        assert_eq!(
            answer.status(),
            200,
            "{}",
            answer.text().await.unwrap_or_default()
        );
    })
    .await
}

/// `count` users with opened wallets holding plenty of credits.
async fn funded(app: &TestApp, admin: &str, count: usize) -> Vec<String> {
    let mut users = Vec::new();
    for n in 0..count {
        let user = app
            .register(&format!("user{n}@example.com"), PASSWORD)
            .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while app
            .get_with_token(&format!("/api/v1/users/{user}/wallet"), admin)
            .await
            .status()
            != 200
        {
            assert!(Instant::now() < deadline, "no wallet opened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let credited = app
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/users/{user}/wallet/credit"),
                admin,
                Some(json!({"amount": 1_000_000_000, "reason": "benchmark"})),
                &[("idempotency-key", &format!("fund-{user}"))],
            )
            .await;
        assert_eq!(credited.status(), 200);
        users.push(user);
    }
    users
}

async fn measure(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let wallets = funded(&app, &admin, CLIENTS + 2).await;
    let (hot, alone, spread) = (&wallets[..1], &wallets[1..2], &wallets[2..]);
    let (rounds, seconds) = (setting("ROUNDS", 5), setting("ROUND_SECONDS", 2));
    // Warm-up, not recorded: connections, caches.
    round(&app, &admin, hot, CLIENTS, 1).await;
    round(&app, &admin, spread, CLIENTS, 1).await;
    println!("{backend:?}, {rounds} rounds of {seconds} s per arm");
    println!(
        "| round | {CLIENTS} clients, one wallet | p50 ms | p99 ms | one client | p50 ms | {CLIENTS} clients, own wallets | p50 ms | one wallet / one client | own wallets / one client |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut hot_ratios = Vec::new();
    let mut spread_ratios = Vec::new();
    for n in 1..=rounds {
        let mut arms: Vec<(usize, Arm)> = Vec::new();
        // Which arm goes first turns with the rounds.
        for arm in (0..3).map(|k| (k + n as usize) % 3) {
            let measured = match arm {
                0 => round(&app, &admin, hot, CLIENTS, seconds).await,
                1 => round(&app, &admin, alone, 1, seconds).await,
                _ => round(&app, &admin, spread, CLIENTS, seconds).await,
            };
            arms.push((arm, measured));
        }
        arms.sort_by_key(|(arm, _)| *arm);
        let [
            (_, mut one_wallet),
            (_, mut one_client),
            (_, mut own_wallets),
        ]: [(usize, Arm); 3] = arms.try_into().map_err(|_| ()).expect("three arms");
        let hot_ratio = one_wallet.per_second() / one_client.per_second();
        let spread_ratio = own_wallets.per_second() / one_client.per_second();
        hot_ratios.push(hot_ratio);
        spread_ratios.push(spread_ratio);
        println!(
            "| {n} | {:.0}/s | {:.2} | {:.2} | {:.0}/s | {:.2} | {:.0}/s | {:.2} | {hot_ratio:.2} | {spread_ratio:.2} |",
            one_wallet.per_second(),
            one_wallet.quantile(0.5),
            one_wallet.quantile(0.99),
            one_client.per_second(),
            one_client.quantile(0.5),
            own_wallets.per_second(),
            own_wallets.quantile(0.5),
        );
    }
    let balance: Value = app
        .get_with_token(&format!("/api/v1/users/{}/wallet", hot[0]), &admin)
        .await
        .json()
        .await
        .expect("json");
    println!(
        "{backend:?}: median one wallet / one client {:.2}, own wallets / one client {:.2} (hot wallet left with {})",
        median(hot_ratios),
        median(spread_ratios),
        balance["balance"]
    );
}

fn main() {
    support::on_each_backend(measure);
}
