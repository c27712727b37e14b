//! Wallets: opened for every new user by the wallet worker, shown with the user; credited and
//! debited by administrators with a reason and an Idempotency-Key, never below zero, even under
//! a hundred debits at once; frozen and unfrozen; their history read from the log.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{TestApp, spawn_app};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// Waits until `user`'s wallet is open; answers it.
async fn opened_wallet(app: &TestApp, token: &str, user: &str) -> Value {
    let path = format!("/api/v1/users/{user}/wallet");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = app.get_with_token(&path, token).await;
        if answer.status() == 200 {
            return answer.json().await.expect("json");
        }
        assert_eq!(answer.status(), 404, "before it opens");
        assert!(std::time::Instant::now() < deadline, "no wallet opened");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn change(
    app: &TestApp,
    token: &str,
    user: &str,
    what: &str,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let headers: Vec<(&str, &str)> = key
        .map(|key| ("idempotency-key", key))
        .into_iter()
        .collect();
    app.send(
        reqwest::Method::POST,
        &format!("/api/v1/users/{user}/wallet/{what}"),
        token,
        Some(body),
        &headers,
    )
    .await
}

async fn every_new_user_gets_a_wallet_shown_with_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let ann_token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let wallet = opened_wallet(&app, &ann_token, &ann).await;
    assert_eq!(wallet["balance"], 0);
    assert_eq!(wallet["status"], "active");
    assert_eq!(wallet["user_id"], ann.as_str());
    let me: Value = app
        .get_with_token("/api/v1/auth/me", &ann_token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["user"]["wallet"],
        json!({"balance": 0, "status": "active"})
    );
    let user: Value = app
        .get_with_token(&format!("/api/v1/users/{ann}"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(user["wallet"]["balance"], 0);
    // A user an administrator creates gets one too, opened by the worker, once.
    let created: Value = app
        .post_with_token(
            "/api/v1/users",
            &admin,
            &json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .expect("json");
    let bob = created["id"].as_str().expect("id");
    opened_wallet(&app, &admin, bob).await;
    let history: Value = app
        .get_with_token(&format!("/api/v1/users/{bob}/wallet/history"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        history["items"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );
    assert_eq!(history["items"][0]["event"], "WalletOpened");
    assert_eq!(history["items"][0]["actor"], "worker:wallets");
    // Others' wallets are not a plain user's to read.
    problem(
        app.get_with_token(&format!("/api/v1/users/{bob}/wallet"), &ann_token)
            .await,
        404,
    )
    .await;
}

test_both_backends!(every_new_user_gets_a_wallet_shown_with_them);

async fn credits_and_debits_move_once_and_never_below_zero(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_id, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    opened_wallet(&app, &admin, &ann).await;

    let top_up = json!({"amount": 50, "reason": "welcome credits"});
    let credited = change(
        &app,
        &admin,
        &ann,
        "credit",
        top_up.clone(),
        Some("top-up-1"),
    )
    .await;
    assert_eq!(credited.status(), 200);
    assert!(credited.headers().contains_key("x-log-position"));
    assert_eq!(credited.json::<Value>().await.expect("json")["balance"], 50);
    // The same request again moves nothing and answers as the first did.
    let again = change(&app, &admin, &ann, "credit", top_up, Some("top-up-1")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.expect("json")["balance"], 50);
    // The same key for another request, no key, or no such amount: refused.
    let other = json!({"amount": 51, "reason": "welcome credits"});
    let reused = change(
        &app,
        &admin,
        &ann,
        "credit",
        other.clone(),
        Some("top-up-1"),
    )
    .await;
    assert_eq!(
        problem(reused, 422).await["type"],
        "urn:idlog:problem:idempotency-key-reused"
    );
    let unkeyed = change(&app, &admin, &ann, "credit", other, None).await;
    assert_eq!(
        problem(unkeyed, 400).await["type"],
        "urn:idlog:problem:idempotency-key-required"
    );
    let nothing = json!({"amount": 0, "reason": "nothing"});
    problem(
        change(&app, &admin, &ann, "debit", nothing, Some("zero")).await,
        422,
    )
    .await;
    // Nobody moves credits in or out of their own wallet, administrators included.
    opened_wallet(&app, &admin, &admin_id).await;
    let own = json!({"amount": 5, "reason": "mine"});
    problem(
        change(&app, &admin, &admin_id, "credit", own, Some("own")).await,
        403,
    )
    .await;

    // A hundred debits of one credit at once against fifty: fifty go through, fifty are
    // refused for want of funds, none conflicts or fails.
    let debits = (0..100).map(|n| {
        let (app, admin, ann) = (&app, &admin, &ann);
        async move {
            let key = format!("debit-{n}");
            let body = json!({"amount": 1, "reason": format!("purchase {n}")});
            let answer = change(app, admin, ann, "debit", body, Some(&key)).await;
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.expect("json");
            (status, body)
        }
    });
    let answers = futures::future::join_all(debits).await;
    let succeeded = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 422)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(succeeded, 50, "{answers:?}");
    assert_eq!(refused.len(), 50, "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|body| body["type"] == "urn:idlog:problem:insufficient-funds"),
        "{refused:?}"
    );
    let wallet = opened_wallet(&app, &admin, &ann).await;
    assert_eq!(wallet["balance"], 0);

    // Frozen, it moves nothing until unfrozen.
    let frozen = change(
        &app,
        &admin,
        &ann,
        "freeze",
        json!({"reason": "chargeback"}),
        None,
    )
    .await;
    assert_eq!(
        frozen.json::<Value>().await.expect("json")["status"],
        "frozen"
    );
    let refill = json!({"amount": 10, "reason": "refill"});
    let blocked = change(&app, &admin, &ann, "credit", refill.clone(), Some("refill")).await;
    assert_eq!(
        problem(blocked, 409).await["type"],
        "urn:idlog:problem:wallet-frozen"
    );
    let unfrozen = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{ann}/wallet/unfreeze"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(
        unfrozen.json::<Value>().await.expect("json")["status"],
        "active"
    );
    let refilled = change(&app, &admin, &ann, "credit", refill, Some("refill-2")).await;
    assert_eq!(refilled.json::<Value>().await.expect("json")["balance"], 10);

    // The history, from the log, in pages, newest first: opened, a credit, fifty debits, the
    // freeze, the unfreeze and the refill.
    let mut entries = Vec::new();
    let mut path = format!("/api/v1/users/{ann}/wallet/history?limit=20");
    loop {
        let page: Value = app
            .get_with_token(&path, &admin)
            .await
            .json()
            .await
            .expect("json");
        entries.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_before"].as_u64() {
            Some(before) => {
                path = format!("/api/v1/users/{ann}/wallet/history?limit=20&before={before}");
            }
            None => break,
        }
    }
    assert_eq!(entries.len(), 55);
    assert_eq!(entries[0]["event"], "WalletCredited");
    assert_eq!(entries[0]["balance"], 10);
    assert_eq!(entries[0]["actor"], admin_id.as_str());
    assert_eq!(entries[1]["event"], "WalletUnfrozen");
    assert_eq!(entries[2]["reason"], "chargeback");
    assert_eq!(entries[3]["balance"], 0);
    assert_eq!(entries[53]["reason"], "welcome credits");
    assert_eq!(entries[54]["event"], "WalletOpened");
    let debited = entries
        .iter()
        .filter(|entry| entry["event"] == "WalletDebited")
        .count();
    assert_eq!(debited, 50);
    problem(
        app.get_with_token(
            &format!("/api/v1/users/{ann}/wallet/history?limit=201"),
            &admin,
        )
        .await,
        400,
    )
    .await;

    // A retry racing its first request, for all the balance: both answer the one debit.
    let everything = json!({"amount": 10, "reason": "the lot"});
    let (first, retry) = futures::future::join(
        change(
            &app,
            &admin,
            &ann,
            "debit",
            everything.clone(),
            Some("the-lot"),
        ),
        change(&app, &admin, &ann, "debit", everything, Some("the-lot")),
    )
    .await;
    let replayed = [&first, &retry]
        .iter()
        .filter(|answer| answer.headers().contains_key("idempotent-replayed"))
        .count();
    assert_eq!(
        (first.status().as_u16(), retry.status().as_u16(), replayed),
        (200, 200, 1)
    );
    for answer in [first, retry] {
        assert_eq!(answer.json::<Value>().await.expect("json")["balance"], 0);
    }
}

test_both_backends!(credits_and_debits_move_once_and_never_below_zero);
