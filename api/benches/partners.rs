//! Recording partner activity over real HTTP: a partner's system authenticated by its API key
//! against the same record made with an administrator's access token, in one run, rounds
//! interleaved (key, token, key, token, ...) so that the machine's drift falls on both alike.
//!
//! A key's request appends twice (its use, then the record); a token's once, after checking
//! its session. The ratio of the two throughputs is the price of recording every key use.
//!
//! Run: `cargo bench -p api --bench partners` (PostgreSQL from `TEST_DATABASE_URL`;
//! `BACKENDS=postgres` or `sqlite` for one; `ROUNDS`, default 5, of `ROUND_SECONDS`, default 2,
//! per arm).

use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::json;

/// As in the `idlog` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;
use support::{Arm, closed_loop, median, setting};

const CLIENTS: usize = 16;

/// `CLIENTS` clients recording as fast as they are answered for `seconds`, with `token`.
async fn round(app: &TestApp, organization: &str, token: &str, seconds: u64) -> Arm {
    let path = format!("/api/v1/organizations/{organization}/partner-activity");
    let clients = (0..CLIENTS).map(|client| (client, 0_u64)).collect();
    closed_loop(clients, seconds, async |(client, n): &mut (usize, u64)| {
        *n += 1;
        let body = json!({
            "action": "transaction_sent",
            "status": "ok",
            "resource_type": "edi_document",
            "resource_id": format!("PO-{client}-{n}"),
            "details": {"document_type": "850", "size": 2048}
        });
        let answer = app
            .send(reqwest::Method::POST, &path, token, Some(body), &[])
            .await;
        assert_eq!(
            answer.status(),
            201,
            "{}",
            answer.text().await.unwrap_or_default()
        );
    })
    .await
}

async fn measure(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    let (_, admin) = app.admin().await;
    let created: serde_json::Value = app
        .post_with_token("/api/v1/organizations", &admin, &json!({"name": "acme"}))
        .await
        .json()
        .await
        .expect("json");
    let organization = created["id"].as_str().expect("id").to_owned();
    let issued: serde_json::Value = app
        .post_with_token(
            &format!("/api/v1/organizations/{organization}/api-keys"),
            &admin,
            &json!({"name": "systems", "permissions": ["can_upload_files"]}),
        )
        .await
        .json()
        .await
        .expect("json");
    let key = issued["token"].as_str().expect("token").to_owned();
    let (rounds, seconds) = (setting("ROUNDS", 5), setting("ROUND_SECONDS", 2));
    // Warm-up, not recorded: connections, caches.
    round(&app, &organization, &key, 1).await;
    round(&app, &organization, &admin, 1).await;
    println!("{CLIENTS} clients, {backend:?}, {rounds} rounds of {seconds} s per arm");
    println!(
        "| round | with an API key | p50 ms | p99 ms | with an access token | p50 ms | p99 ms | key / token |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for n in 1..=rounds {
        // Which arm goes first alternates too.
        let mut by_key = Arm::default();
        let mut by_token = Arm::default();
        let order: [(&mut Arm, &str); 2] = if n % 2 == 1 {
            [(&mut by_key, &key), (&mut by_token, &admin)]
        } else {
            [(&mut by_token, &admin), (&mut by_key, &key)]
        };
        for (arm, token) in order {
            *arm = round(&app, &organization, token, seconds).await;
        }
        let ratio = by_key.per_second() / by_token.per_second();
        ratios.push(ratio);
        println!(
            "| {n} | {:.0}/s | {:.2} | {:.2} | {:.0}/s | {:.2} | {:.2} | {ratio:.2} |",
            by_key.per_second(),
            by_key.quantile(0.5),
            by_key.quantile(0.99),
            by_token.per_second(),
            by_token.quantile(0.5),
            by_token.quantile(0.99),
        );
    }
    println!(
        "{backend:?}: median key / token throughput {:.2}",
        median(ratios)
    );
}

fn main() {
    support::on_each_backend(measure);
}
