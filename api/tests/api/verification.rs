//! Email and phone verification over real HTTP, on SQLite and PostgreSQL.

use crate::common::problem;
use commands::tokens::TokenPurpose;
use domain::Duration;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// Registers ann with a phone and logs her in; returns her id and access token.
async fn ann(app: &TestApp) -> (String, String) {
    let body = json!({"email": "ann@example.com", "password": PASSWORD, "phone": "+14155550100"});
    let response = app.post("/api/v1/auth/register", &body).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    (id, token)
}

async fn an_email_link_verifies_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, token) = ann(&app).await;
    let link = app.sent_token(&id, TokenPurpose::EmailVerification).await;
    let wrong = app
        .post(
            "/api/v1/auth/email/verify",
            &json!({"token": format!("{}x", link)}),
        )
        .await;
    assert_eq!(
        problem(wrong, 422).await["type"],
        "urn:idlog:problem:invalid-token"
    );
    let forged = app
        .post("/api/v1/auth/email/verify", &json!({"token": "garbage"}))
        .await;
    problem(forged, 422).await;

    let verified = app
        .client
        .get(app.url("/api/v1/auth/email/verify"))
        .query(&[("token", &link)])
        .send()
        .await
        .expect("request");
    assert_eq!(verified.status(), 200);
    assert!(
        verified.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let me: Value = app
        .get_with_token("/api/v1/auth/me", &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["verification_status"], "email_verified");
    assert!(me["user"]["email_verified_at"].is_string());

    let again = app
        .post("/api/v1/auth/email/verify", &json!({"token": link}))
        .await;
    assert_eq!(
        problem(again, 409).await["type"],
        "urn:idlog:problem:email-already-verified"
    );
    let resend = app
        .post_with_token("/api/v1/auth/email/verify/send", &token, &json!({}))
        .await;
    problem(resend, 409).await;
}

async fn resending_waits_a_minute_and_old_links_expire(backend: Backend) {
    let mut options = Options::default();
    options.auth.email_verification_lifetime = Duration::milliseconds(300);
    let app = spawn_app_with(backend, options).await;
    let (id, token) = ann(&app).await;
    // Registration just sent a link: a resend must wait.
    let soon = app
        .post_with_token("/api/v1/auth/email/verify/send", &token, &json!({}))
        .await;
    assert_eq!(soon.status(), 429);
    let retry_after: i64 = soon.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(
        problem(soon, 429).await["type"],
        "urn:idlog:problem:too-soon"
    );

    let link = app.sent_token(&id, TokenPurpose::EmailVerification).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let late = app
        .post("/api/v1/auth/email/verify", &json!({"token": link}))
        .await;
    assert_eq!(
        problem(late, 422).await["type"],
        "urn:idlog:problem:token-expired"
    );
}

async fn a_phone_code_verifies_within_five_attempts(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, token) = ann(&app).await;
    let verify = |code: String| {
        let (app, token) = (&app, token.clone());
        async move {
            app.post_with_token("/api/v1/auth/phone/verify", &token, &json!({"code": code}))
                .await
        }
    };
    problem(verify("123456".into()).await, 422).await;
    assert_eq!(
        app.post_with_token("/api/v1/auth/phone/verify/send", &token, &json!({}))
            .await
            .status(),
        202
    );
    let soon = app
        .post_with_token("/api/v1/auth/phone/verify/send", &token, &json!({}))
        .await;
    problem(soon, 429).await;
    let code = app.sent_phone_code(&id).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let first_wrong = problem(verify(wrong.into()).await, 422).await;
    assert_eq!(first_wrong["type"], "urn:idlog:problem:invalid-code");
    assert!(
        first_wrong["detail"]
            .as_str()
            .expect("detail")
            .contains("4 attempts left")
    );
    let verified = verify(code.clone()).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(
        verified.json::<Value>().await.expect("json")["verification_status"],
        "phone_verified"
    );
    let again = verify(code).await;
    assert_eq!(
        problem(again, 409).await["type"],
        "urn:idlog:problem:phone-already-verified"
    );

    // A new number starts over.
    let patch = app
        .client
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&token)
        .json(&json!({"phone": "+14155550199"}));
    let patched: Value = patch
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(patched["verification_status"], "not_verified");
    assert!(patched["phone_verified_at"].is_null());
}

async fn five_wrong_codes_use_the_code_up(backend: Backend) {
    let mut options = Options::default();
    options.auth.phone_code_lifetime = Duration::milliseconds(500);
    let app = spawn_app_with(backend, options).await;
    let (id, token) = ann(&app).await;
    app.post_with_token("/api/v1/auth/phone/verify/send", &token, &json!({}))
        .await;
    let code = app.sent_phone_code(&id).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        problem(
            app.post_with_token("/api/v1/auth/phone/verify", &token, &json!({"code": wrong}))
                .await,
            422,
        )
        .await;
    }
    let used_up = app
        .post_with_token("/api/v1/auth/phone/verify", &token, &json!({"code": code}))
        .await;
    assert_eq!(
        problem(used_up, 422).await["type"],
        "urn:idlog:problem:too-many-attempts"
    );
    let failures = app
        .log
        .read_stream(&id)
        .await
        .expect("read")
        .iter()
        .filter(|e| e.event_type == "PhoneVerificationFailed")
        .count();
    assert_eq!(failures, 5);

    // And a code past its ten minutes (here: half a second) is refused.
    let other = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "bob@example.com", "password": PASSWORD, "phone": "+14155550111"}),
        )
        .await;
    let bob = other.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bob_token = app.login("bob@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.post_with_token("/api/v1/auth/phone/verify/send", &bob_token, &json!({}))
        .await;
    let code = app.sent_phone_code(&bob).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let late = app
        .post_with_token(
            "/api/v1/auth/phone/verify",
            &bob_token,
            &json!({"code": code}),
        )
        .await;
    assert_eq!(
        problem(late, 422).await["type"],
        "urn:idlog:problem:token-expired"
    );
}

async fn a_user_without_a_phone_gets_no_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("nophone@example.com", PASSWORD).await;
    let token = app.login("nophone@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let send = app
        .post_with_token("/api/v1/auth/phone/verify/send", &token, &json!({}))
        .await;
    assert_eq!(
        problem(send, 422).await["type"],
        "urn:idlog:problem:no-phone-number"
    );
    problem(
        app.post("/api/v1/auth/phone/verify/send", &json!({})).await,
        401,
    )
    .await;
}

test_both_backends!(
    an_email_link_verifies_once,
    resending_waits_a_minute_and_old_links_expire,
    a_phone_code_verifies_within_five_attempts,
    five_wrong_codes_use_the_code_up,
    a_user_without_a_phone_gets_no_code,
);
