//! The account dashboard (`GET /account`, a page session's cookie) against the JSON it stands
//! beside (`GET /api/v1/auth/me`, a bearer token): 32 signed-in clients in a closed loop, in
//! the same process, rounds alternating between the two so both see the same machine, on
//! SQLite and PostgreSQL. The dashboard does more (the account's activity and notifications,
//! rendered as HTML): the target is at least half the JSON's throughput. Prints each round
//! with its throughput, p50 and p99, and the medians with the ratio.
//!
//! With `PAIR=console-users`, the console's users page with 50 rows (`GET /console/users`)
//! against the list it stands beside (`GET /api/v1/users?limit=50`), each client an
//! administrator, over 65 users.
//!
//! Run: `cargo bench -p api --bench pages` (PostgreSQL from `TEST_DATABASE_URL`; `ROUNDS`,
//! default 5, and `BENCH_SECONDS` per round, default 3; `BACKENDS`, default `sqlite,postgres`;
//! `PAGE`, another page of the signed-in person to measure instead, e.g. `/account/privacy`;
//! `PAIR`, `account` (default) or `console-users`).

use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use reqwest::header::{COOKIE, SET_COOKIE};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// How one client asks: a bearer token for the JSON, cookies for the page.
#[derive(Clone)]
struct Client {
    token: String,
    cookies: String,
}

/// Signs `email` in on the sign-in page, as a browser does; answers its cookies.
async fn page_session(app: &TestApp, http: &reqwest::Client, email: &str) -> String {
    let form = http.get(app.url("/sign-in")).send().await.expect("form");
    let csrf_cookie = form.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let html = form.text().await.expect("html");
    let start = html.find("name=\"csrf\" value=\"").expect("token") + 19;
    let token = html[start..].split('"').next().expect("token").to_owned();
    let signed_in = http
        .post(app.url("/sign-in"))
        .header(COOKIE, &csrf_cookie)
        .header("origin", &app.address)
        .form(&[
            ("csrf", token.as_str()),
            ("login", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 303);
    signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is measured: a page and the JSON it stands beside, and whether the clients are
/// administrators.
struct Pair {
    page: String,
    json: &'static str,
    administrators: bool,
}

impl Pair {
    fn from_env() -> Self {
        match std::env::var("PAIR").as_deref() {
            Ok("console-users") => Self {
                page: "/console/users".into(),
                json: "/api/v1/users?limit=50",
                administrators: true,
            },
            _ => Self {
                page: std::env::var("PAGE").unwrap_or_else(|_| "/account".into()),
                json: "/api/v1/auth/me",
                administrators: false,
            },
        }
    }
}

/// A server with one signed-in user per client, each with a little activity to show (and, for
/// administrators, one plain user per client more, so that lists are longer than a page).
async fn server(backend: Backend, pair: &Pair) -> (TestApp, Vec<Client>) {
    let app = spawn_app_with(backend, Options::default()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = if pair.administrators {
        Some(app.admin().await.1)
    } else {
        None
    };
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let mut email = format!("user{client}@example.com");
        app.register(&email, PASSWORD).await;
        if let Some(root) = &root {
            email = format!("admin{client}@example.com");
            let created = app
                .post_with_token(
                    "/api/v1/users",
                    root,
                    &serde_json::json!({"email": email, "password": PASSWORD, "roles": ["admin"]}),
                )
                .await;
            assert_eq!(created.status(), 201, "create {email}");
        }
        let token = app.login(&email, PASSWORD).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let cookies = page_session(&app, &http, &email).await;
        clients.push(Client { token, cookies });
    }
    let head = app.head_position().await;
    app.projector
        .wait_for(head, &["activity", "directory"], Duration::from_secs(30))
        .await
        .expect("read models");
    (app, clients)
}

/// One round's throughput and latencies.
struct Round {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Requests per second over one round of `seconds`, and its latencies.
async fn round(app: &TestApp, clients: &[Client], pair: &Pair, page: bool, seconds: u64) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let path = if page { pair.page.as_str() } else { pair.json };
    let url = app.url(path);
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let (http, url, client) = (app.client.clone(), url.clone(), client.clone());
            let (stop, counting) = (stop.clone(), counting.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let request = if page {
                        http.get(&url).header(COOKIE, &client.cookies)
                    } else {
                        http.get(&url).bearer_auth(&client.token)
                    };
                    let response = request.send().await.expect("request");
                    assert_eq!(response.status(), 200, "{url}");
                    response.bytes().await.expect("body");
                    if counting.load(Ordering::Relaxed) {
                        latencies.push(started.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    // Connections open and caches fill before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    latencies.sort();
    let at = |quantile: f64| {
        latencies
            .get(
                ((latencies.len() as f64 * quantile) as usize)
                    .min(latencies.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or_default()
    };
    Round {
        per_second: latencies.len() as f64 / elapsed,
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    runtime.block_on(async {
        let rounds = setting("ROUNDS", 5);
        let seconds = setting("BENCH_SECONDS", 3);
        for name in backends.split(',') {
            let backend = match name.trim() {
                "postgres" => Backend::Postgres,
                _ => Backend::Sqlite,
            };
            let pair = Pair::from_env();
            let (app, clients) = server(backend, &pair).await;
            println!("{CLIENTS} clients, {name}, {rounds} rounds of {seconds} s");
            println!("| round | request | req/s | p50 ms | p99 ms |");
            println!("|---|---|---|---|---|");
            let page_label = format!("GET {}", pair.page);
            let json_label = format!("GET {}", pair.json);
            let mut measured: [(Vec<f64>, Vec<f64>, Vec<f64>); 2] = Default::default();
            for n in 0..rounds {
                // Alternate which goes first, so neither always meets the warmer machine.
                let order = if n % 2 == 0 { [false, true] } else { [true, false] };
                for page in order {
                    let result = round(&app, &clients, &pair, page, seconds).await;
                    println!(
                        "| {} | {} | {:.0} | {:.1} | {:.1} |",
                        n + 1,
                        if page { &page_label } else { &json_label },
                        result.per_second,
                        ms(result.p50),
                        ms(result.p99)
                    );
                    let (rates, p50s, p99s) = &mut measured[usize::from(page)];
                    rates.push(result.per_second);
                    p50s.push(ms(result.p50));
                    p99s.push(ms(result.p99));
                }
            }
            let [mut json, mut page] = measured;
            let (json_rate, page_rate) = (median(&mut json.0), median(&mut page.0));
            println!(
                "{name} medians: JSON {json_rate:.0}/s (p50 {:.1} ms, p99 {:.1} ms), page {page_rate:.0}/s (p50 {:.1} ms, p99 {:.1} ms): page/JSON = {:.2} (target >= 0.5)",
                median(&mut json.1),
                median(&mut json.2),
                median(&mut page.1),
                median(&mut page.2),
                page_rate / json_rate
            );
        }
    });
}
