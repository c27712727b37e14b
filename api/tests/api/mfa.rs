//! Two-factor authentication (TOTP) over real HTTP, on SQLite and PostgreSQL.

use crate::common::problem;
use application::credentials::totp;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{TestApp, spawn_app};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// The current code of a base32 secret, for the step `offset` from now.
fn code(secret: &str, offset: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32");
    let step = totp::step_of(chrono::Utc::now().timestamp()).saturating_add_signed(offset);
    totp::code_at(&secret, step)
}

/// Registers ann, turns TOTP on; returns her access token, the secret and the recovery codes.
async fn ann_with_totp(app: &TestApp) -> (String, String, Vec<String>) {
    app.register("ann@example.com", PASSWORD).await;
    let token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let enrolled = app
        .post_with_token("/api/v1/auth/mfa/totp/enroll", &token, &json!({}))
        .await;
    assert_eq!(enrolled.status(), 200);
    let enrolled: Value = enrolled.json().await.expect("json");
    let secret = enrolled["secret"].as_str().expect("secret").to_owned();
    assert!(
        enrolled["otpauth_uri"]
            .as_str()
            .expect("uri")
            .starts_with("otpauth://totp/idlog:ann%40example.com?secret=")
    );
    let wrong = app
        .post_with_token(
            "/api/v1/auth/mfa/totp/confirm",
            &token,
            &json!({"code": "000000x"}),
        )
        .await;
    problem(wrong, 422).await;
    // The previous step's code: one step of drift is accepted, and the next login's code is newer.
    let confirmed = app
        .post_with_token(
            "/api/v1/auth/mfa/totp/confirm",
            &token,
            &json!({"code": code(&secret, -1)}),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let codes: Vec<String> = confirmed.json::<Value>().await.expect("json")["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| code.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (token, secret, codes)
}

async fn mfa_token(app: &TestApp) -> String {
    let response = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["mfa_required"], true);
    assert!(
        body.get("access_token").is_none(),
        "no session before the second factor"
    );
    body["mfa_token"].as_str().expect("mfa token").to_owned()
}

async fn a_login_with_totp_needs_a_fresh_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, secret, _) = ann_with_totp(&app).await;
    let again = app
        .post_with_token("/api/v1/auth/mfa/totp/enroll", &token, &json!({}))
        .await;
    assert_eq!(
        problem(again, 409).await["type"],
        "urn:idlog:problem:mfa-already-on"
    );

    let mfa = mfa_token(&app).await;
    // The MFA token is not an access token.
    assert_eq!(
        app.get_with_token("/api/v1/auth/me", &mfa).await.status(),
        401
    );
    problem(
        app.post(
            "/api/v1/auth/login/mfa",
            &json!({"mfa_token": mfa, "code": "123456x"}),
        )
        .await,
        401,
    )
    .await;
    problem(
        app.post(
            "/api/v1/auth/login/mfa",
            &json!({"mfa_token": token, "code": code(&secret, 0)}),
        )
        .await,
        401,
    )
    .await;
    problem(
        app.post("/api/v1/auth/login/mfa", &json!({"mfa_token": mfa}))
            .await,
        422,
    )
    .await;
    let current = code(&secret, 0);
    let done = app
        .post(
            "/api/v1/auth/login/mfa",
            &json!({"mfa_token": mfa, "code": current}),
        )
        .await;
    assert_eq!(done.status(), 200);
    let tokens: Value = done.json().await.expect("json");
    assert_eq!(
        app.get_with_token(
            "/api/v1/auth/me",
            tokens["access_token"].as_str().expect("token")
        )
        .await
        .status(),
        200
    );

    // The same code again is refused, even with a fresh MFA token.
    let mfa = mfa_token(&app).await;
    let replay = app
        .post(
            "/api/v1/auth/login/mfa",
            &json!({"mfa_token": mfa, "code": current}),
        )
        .await;
    problem(replay, 401).await;
    let used = app.log.read_all(0, 10_000).await.expect("read");
    assert_eq!(
        used.iter()
            .filter(|event| event.event_type == "TotpCodeUsed")
            .count(),
        1
    );
    assert!(
        used.iter()
            .all(|event| !event.payload.to_string().contains(&secret)),
        "the secret is sealed in the log"
    );
}

async fn recovery_codes_work_once_and_totp_can_be_turned_off(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _, codes) = ann_with_totp(&app).await;
    let mfa = mfa_token(&app).await;
    let recovered = app
        .post(
            "/api/v1/auth/login/mfa",
            &json!({"mfa_token": mfa, "recovery_code": codes[3].to_uppercase()}),
        )
        .await;
    assert_eq!(recovered.status(), 200);
    let reused = app
        .post(
            "/api/v1/auth/login/mfa",
            &json!({"mfa_token": mfa, "recovery_code": codes[3]}),
        )
        .await;
    problem(reused, 401).await;

    let wrong = app
        .client
        .delete(app.url("/api/v1/auth/mfa/totp"))
        .bearer_auth(&token)
        .json(&json!({"password": "nope"}));
    problem(wrong.send().await.expect("request"), 403).await;
    let off = app
        .client
        .delete(app.url("/api/v1/auth/mfa/totp"))
        .bearer_auth(&token)
        .json(&json!({"password": PASSWORD}));
    assert_eq!(off.send().await.expect("request").status(), 204);
    let tokens = app.login("ann@example.com", PASSWORD).await;
    assert!(
        tokens["access_token"].is_string(),
        "no second factor any more"
    );
}

async fn wrong_codes_count_toward_the_lockout(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, secret, _) = ann_with_totp(&app).await;
    let mfa = mfa_token(&app).await;
    let right = code(&secret, 0);
    let wrong = if right == "000000" {
        "000001"
    } else {
        "000000"
    };
    for _ in 0..5 {
        problem(
            app.post(
                "/api/v1/auth/login/mfa",
                &json!({"mfa_token": mfa, "code": wrong}),
            )
            .await,
            401,
        )
        .await;
    }
    app.settle().await;
    let locked = app
        .post(
            "/api/v1/auth/login/mfa",
            &json!({"mfa_token": mfa, "code": right}),
        )
        .await;
    problem(locked, 401).await;
    let events = app.log.read_all(0, 10_000).await.expect("read");
    assert_eq!(
        events
            .iter()
            .filter(|event| event.event_type == "AccountLocked")
            .count(),
        1
    );
}

test_both_backends!(
    a_login_with_totp_needs_a_fresh_code,
    recovery_codes_work_once_and_totp_can_be_turned_off,
    wrong_codes_count_toward_the_lockout,
);
