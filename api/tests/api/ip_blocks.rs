//! The IP block list: administrators block addresses and ranges (with a reason and an optional
//! end) and lift blocks; a blocked address may not sign up, sign in, refresh or reset a
//! password, and is told so without the reason. The address is the one resolved through the
//! trusted proxies.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// A server that believes `X-Forwarded-For` from loopback, so a test can speak from any address.
async fn behind_a_proxy(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            trusted_proxies: vec!["127.0.0.0/8".parse().expect("range")],
            ..Options::default()
        },
    )
    .await
}

/// `POST path` with `body`, as if from `address`.
async fn post_from(app: &TestApp, address: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-forwarded-for", address)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn block(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    app.send(
        reqwest::Method::POST,
        "/api/v1/ip-blocks",
        admin,
        Some(body),
        &[],
    )
    .await
}

async fn a_blocked_address_may_not_sign_up_sign_in_refresh_or_reset(backend: Backend) {
    let app = behind_a_proxy(backend).await;
    let (_, admin) = app.admin().await;
    app.register("ann@example.com", PASSWORD).await;
    let ann = json!({"login": "ann@example.com", "password": PASSWORD});
    let tokens: Value = post_from(&app, "198.51.100.9", "/api/v1/auth/login", &ann)
        .await
        .json()
        .await
        .expect("json");

    let blocked = block(
        &app,
        &admin,
        json!({"network": "198.51.100.77/24", "reason": "credential stuffing"}),
    )
    .await;
    assert_eq!(blocked.status(), 201);
    assert!(blocked.headers().contains_key("x-log-position"));
    let view: Value = blocked.json().await.expect("json");
    assert_eq!(view["network"], "198.51.100.0/24");
    assert_eq!(view["in_force"], true);
    assert_eq!(view["expires_at"], Value::Null);

    let inside = "198.51.100.9";
    let refusals = [
        (
            "/api/v1/auth/register",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        ),
        ("/api/v1/auth/login", ann.clone()),
        (
            "/api/v1/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        ),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "ann@example.com"}),
        ),
        (
            "/api/v1/auth/password/reset",
            json!({"token": "anything", "new_password": "a brand new passphrase"}),
        ),
        (
            "/api/v1/auth/login/mfa",
            json!({"mfa_token": "anything", "code": "123456"}),
        ),
    ];
    for (path, body) in &refusals {
        let refused = problem(post_from(&app, inside, path, body).await, 403).await;
        assert_eq!(
            refused["type"], "urn:idlog:problem:address-blocked",
            "{path}"
        );
        // The reason is for administrators.
        assert!(!refused.to_string().contains("stuffing"), "{refused}");
    }
    // An IPv4 address written as IPv6 is the same address.
    problem(
        post_from(&app, "::ffff:198.51.100.9", "/api/v1/auth/login", &ann).await,
        403,
    )
    .await;
    // Outside the range, and everything else from inside it, is served.
    let outside = post_from(&app, "198.51.101.1", "/api/v1/auth/login", &ann).await;
    assert_eq!(outside.status(), 200);
    let me = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("x-forwarded-for", inside)
        .bearer_auth(tokens["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    // The refresh refused above did not use the token up.
    let refreshed = post_from(
        &app,
        "198.51.101.1",
        "/api/v1/auth/refresh",
        &json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(refreshed.status(), 200);

    // Lifted: served again. Lifting again finds nothing.
    let lifted = app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/ip-blocks/198.51.100.0%2F24",
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(lifted.status(), 204);
    let again = post_from(&app, inside, "/api/v1/auth/login", &ann).await;
    assert_eq!(again.status(), 200);
    for path in ["198.51.100.0%2F24", "not-an-address"] {
        let missing = app
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/ip-blocks/{path}"),
                &admin,
                None,
                &[],
            )
            .await;
        assert_eq!(
            problem(missing, 404).await["type"],
            "urn:idlog:problem:ip-block-not-found"
        );
    }

    // Both changes are in the activity log, by the administrator.
    let head = app.head_position().await;
    let activity: Value = app
        .get_with_token(
            &format!("/api/v1/activity?resource=ip-blocks&min_position={head}"),
            &admin,
        )
        .await
        .json()
        .await
        .expect("json");
    let actions: Vec<&str> = activity["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["action"].as_str())
        .collect();
    assert_eq!(actions, ["IpUnblocked", "IpBlocked"], "{activity}");
}

test_both_backends!(a_blocked_address_may_not_sign_up_sign_in_refresh_or_reset);

async fn blocks_expire_change_and_are_for_administrators(backend: Backend) {
    let app = behind_a_proxy(backend).await;
    let (_, admin) = app.admin().await;
    app.register("ann@example.com", PASSWORD).await;
    let ann = json!({"login": "ann@example.com", "password": PASSWORD});
    let ann_token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Refused input: each field says what is wrong.
    for (body, field) in [
        (json!({"network": "198.51.100", "reason": "r"}), "/network"),
        (
            json!({"network": "2001:db8::/129", "reason": "r"}),
            "/network",
        ),
        (json!({"network": "192.0.2.1", "reason": "  "}), "/reason"),
        (
            json!({"network": "192.0.2.1", "reason": "r", "expires_at": "2001-01-01T00:00:00Z"}),
            "/expires_at",
        ),
    ] {
        let refused = problem(block(&app, &admin, body.clone()).await, 422).await;
        assert!(refused.to_string().contains(field), "{body}: {refused}");
    }
    // Only administrators change the list; readers (not plain users) read it.
    let by_user = block(
        &app,
        &ann_token,
        json!({"network": "192.0.2.1", "reason": "r"}),
    )
    .await;
    problem(by_user, 403).await;
    problem(
        app.get_with_token("/api/v1/ip-blocks", &ann_token).await,
        403,
    )
    .await;

    // A block that ends in two seconds; blocking again with another reason changes it.
    let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(2);
    let blocked = block(
        &app,
        &admin,
        json!({"network": "2001:db8::1", "reason": "scraping", "expires_at": soon}),
    )
    .await;
    assert_eq!(blocked.status(), 201);
    let changed: Value = block(
        &app,
        &admin,
        json!({"network": "2001:db8::1/128", "reason": "scraping the directory", "expires_at": soon}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(changed["reason"], "scraping the directory");
    problem(
        post_from(&app, "2001:db8::1", "/api/v1/auth/login", &ann).await,
        403,
    )
    .await;
    let left = (soon - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + std::time::Duration::from_millis(100)).await;
    let served = post_from(&app, "2001:db8::1", "/api/v1/auth/login", &ann).await;
    assert_eq!(served.status(), 200);
    // An expired block stays listed, no longer in force, until lifted.
    let list: Value = app
        .get_with_token("/api/v1/ip-blocks", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["blocks"][0]["network"], "2001:db8::1/128");
    assert_eq!(list["blocks"][0]["in_force"], false);
    assert_eq!(list["blocks"][0]["reason"], "scraping the directory");
}

test_both_backends!(blocks_expire_change_and_are_for_administrators);
