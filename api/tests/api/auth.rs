//! Login, tokens, sessions, passwords and lockout over real HTTP, on SQLite and PostgreSQL.

use crate::common::problem;
use application::credentials::jwt::{AccessClaims, AccessTokenSettings, AccessTokens, KeySetFile};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use commands::tokens::TokenPurpose;
use domain::{Duration, UserId};
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// Registers ann@example.com (username ann_lee) and logs her in.
async fn ann_logged_in(app: &TestApp) -> (String, Value) {
    let response = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "ann@example.com", "username": "ann_lee", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.expect("json");
    let tokens = app.login("ann@example.com", PASSWORD).await;
    (user["id"].as_str().expect("id").to_owned(), tokens)
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access token")
}

fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh token")
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get_with_token("/api/v1/auth/me", token)
        .await
        .status()
        .as_u16()
}

// Login

async fn login_issues_tokens_and_records_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, tokens) = ann_logged_in(&app).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["user"]["id"], user_id.as_str());
    assert_eq!(tokens["user"]["email"], "ann@example.com");
    assert!(tokens["user"].get("password_hash").is_none());

    let me = app.get_with_token("/api/v1/auth/me", access(&tokens)).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["user"]["id"], user_id.as_str());
    assert_eq!(me["session_id"], tokens["session_id"]);

    let started = app.events_of_type("SessionStarted").await;
    assert_eq!(started.len(), 1);
    assert_eq!(
        started[0].stream_id,
        tokens["session_id"].as_str().expect("sid")
    );
    assert_eq!(started[0].payload["user_id"], user_id.as_str());
    assert_eq!(started[0].payload["ip"], "127.0.0.1");
    let metadata = started[0].metadata().expect("metadata");
    assert_eq!(metadata.ip.as_deref(), Some("127.0.0.1"));
    assert!(
        metadata.request_id.is_some(),
        "the request id reaches the events"
    );
    assert_eq!(app.events_of_type("LoginSucceeded").await.len(), 1);

    // The username works as well, and each login is its own session.
    let by_username = app.login("ann_lee", PASSWORD).await;
    assert_ne!(by_username["session_id"], tokens["session_id"]);
    let sessions: Value = app
        .get_with_token("/api/v1/auth/sessions", access(&tokens))
        .await
        .json()
        .await
        .expect("json");
    let sessions = sessions.as_array().expect("list");
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions
        .iter()
        .filter(|session| session["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], tokens["session_id"]);
    assert_eq!(current[0]["ip"], "127.0.0.1");
    assert_eq!(current[0]["user_agent"], "idlog-tests/1.0");
}

async fn wrong_passwords_and_unknown_accounts_get_one_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    ann_logged_in(&app).await;
    app.quiet().await;
    let before = app.head_position().await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    let unknown = problem(unknown, 401).await;
    assert_eq!(
        app.head_position().await,
        before,
        "an unknown account leaves no trace"
    );
    let wrong = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": "not her password"}),
        )
        .await;
    let wrong = problem(wrong, 401).await;
    assert_eq!(unknown, wrong);
    assert_eq!(wrong["type"], "urn:idlog:problem:invalid-credentials");
    assert_eq!(app.events_of_type("LoginFailed").await.len(), 1);
    let missing = app
        .post("/api/v1/auth/login", &json!({"login": "ann@example.com"}))
        .await;
    problem(missing, 422).await;
}

// Refresh and logout

async fn refresh_rotates_and_reuse_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = ann_logged_in(&app).await;
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token(&first)}),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let second: Value = refreshed.json().await.expect("json");
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert_eq!(second["session_id"], first["session_id"]);
    assert_eq!(me_status(&app, access(&second)).await, 200);

    // The first token was rotated away: presenting it again is theft or a bug, and ends it all.
    let reused = app
        .post(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token(&first)}),
        )
        .await;
    assert_eq!(
        problem(reused, 401).await["type"],
        "urn:idlog:problem:invalid-token"
    );
    let revoked = app.events_of_type("SessionRevoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].payload["reason"], "refresh_token_reused");
    let after = app
        .post(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token(&second)}),
        )
        .await;
    problem(after, 401).await;
    assert_eq!(
        me_status(&app, access(&second)).await,
        401,
        "access tokens die with their session"
    );

    for garbage in ["", "nonsense", "0190c6b0a1b27f3e8c9d0e1f2a3b4c5d.forged"] {
        let response = app
            .post("/api/v1/auth/refresh", &json!({"refresh_token": garbage}))
            .await;
        problem(response, 401).await;
    }
}

async fn logout_ends_this_session_and_logout_all_every_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = ann_logged_in(&app).await;
    let second = app.login("ann@example.com", PASSWORD).await;
    let third = app.login("ann@example.com", PASSWORD).await;

    let logout = app
        .post_with_token("/api/v1/auth/logout", access(&first), &json!({}))
        .await;
    assert_eq!(logout.status(), 204);
    assert_eq!(me_status(&app, access(&first)).await, 401);
    problem(
        app.post(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token(&first)}),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(
        me_status(&app, access(&second)).await,
        200,
        "other sessions go on"
    );

    let all = app
        .post_with_token("/api/v1/auth/logout-all", access(&second), &json!({}))
        .await;
    assert_eq!(all.status(), 204);
    assert_eq!(me_status(&app, access(&second)).await, 401);
    assert_eq!(me_status(&app, access(&third)).await, 401);
    let ended = app.events_of_type("SessionEnded").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].payload["reason"], "logout");
    assert_eq!(app.events_of_type("SessionRevoked").await.len(), 2);

    let anonymous = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        problem(anonymous, 401).await["type"],
        "urn:idlog:problem:unauthenticated"
    );
}

async fn sessions_can_be_listed_and_revoked_by_their_owner_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, mine) = ann_logged_in(&app).await;
    let other_device = app.login("ann_lee", PASSWORD).await;
    app.register("bob@example.com", PASSWORD).await;
    let bob = app.login("bob@example.com", PASSWORD).await;

    let bobs_session = bob["session_id"].as_str().expect("sid");
    let stealing = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{bobs_session}")))
        .bearer_auth(access(&mine));
    assert_eq!(
        problem(stealing.send().await.expect("request"), 404).await["type"],
        "urn:idlog:problem:session-not-found"
    );
    assert_eq!(me_status(&app, access(&bob)).await, 200);

    let other = other_device["session_id"].as_str().expect("sid");
    let revoke = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{other}")))
        .bearer_auth(access(&mine));
    assert_eq!(revoke.send().await.expect("request").status(), 204);
    assert_eq!(me_status(&app, access(&other_device)).await, 401);
    let sessions: Value = app
        .get_with_token("/api/v1/auth/sessions", access(&mine))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sessions.as_array().expect("list").len(), 1);
    let malformed = app
        .client
        .delete(app.url("/api/v1/auth/sessions/not-a-uuid"))
        .bearer_auth(access(&mine));
    problem(malformed.send().await.expect("request"), 404).await;
}

async fn the_oldest_session_ends_beyond_the_maximum(backend: Backend) {
    let mut options = Options::default();
    options.auth.sessions.max_per_user = Some(2);
    let app = spawn_app_with(backend, options).await;
    let (_, first) = ann_logged_in(&app).await;
    let second = app.login("ann@example.com", PASSWORD).await;
    let third = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(me_status(&app, access(&first)).await, 401);
    assert_eq!(me_status(&app, access(&second)).await, 200);
    assert_eq!(me_status(&app, access(&third)).await, 200);
    let ended = app.events_of_type("SessionEnded").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].payload["reason"], "replaced");
}

// Access tokens

/// A token with `claims` and `header`, signed by `keys`.
fn forge(keys: &KeySetFile, header: &jsonwebtoken::Header, claims: &AccessClaims) -> String {
    let pem = serde_json::to_value(keys).expect("keys")["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|key| key["retired_at"].is_null())
        .expect("signing key")["private_key_pem"]
        .as_str()
        .expect("pem")
        .to_owned();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).expect("key");
    jsonwebtoken::encode(header, claims, &key).expect("encode")
}

fn claims_of(app: &TestApp, token: &str) -> (jsonwebtoken::Header, AccessClaims) {
    let tokens = AccessTokens::new(&app.keys, app.options.tokens.clone()).expect("tokens");
    (
        jsonwebtoken::decode_header(token).expect("header"),
        tokens.validate(token).expect("valid"),
    )
}

async fn forged_and_mangled_access_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, tokens) = ann_logged_in(&app).await;
    let token = access(&tokens);
    let (header, claims) = claims_of(&app, token);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(
        me_status(&app, &forge(&app.keys, &header, &claims)).await,
        200,
        "a faithful re-signing passes"
    );

    let segments: Vec<&str> = token.split('.').collect();
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"));
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[1]).expect("b64")).expect("json");

    // alg: none, with and without a signature.
    let none = encode(&json!({"alg": "none", "typ": "at+jwt", "kid": header.kid}));
    assert_eq!(
        me_status(&app, &format!("{none}.{}.", segments[1])).await,
        401
    );
    assert_eq!(
        me_status(&app, &format!("{none}.{}.{}", segments[1], segments[2])).await,
        401
    );

    // HS256 keyed with the public key (the classic algorithm confusion).
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let public_x = jwks["keys"][0]["x"].as_str().expect("x");
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header.kid.clone();
    hs_header.typ = Some("at+jwt".into());
    let hs = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_x.as_bytes()),
    )
    .expect("hs");
    assert_eq!(me_status(&app, &hs).await, 401);

    // Tampered payload under the original signature.
    let mut tampered = payload.clone();
    tampered["sub"] = json!(UserId::from_uuid(uuid::Uuid::now_v7()).to_string());
    assert_eq!(
        me_status(
            &app,
            &format!("{}.{}.{}", segments[0], encode(&tampered), segments[2])
        )
        .await,
        401
    );

    // Properly signed, but wrong audience, issuer, expired, not yet valid, or another typ.
    let expired = AccessClaims {
        exp: claims.iat - 60,
        nbf: claims.iat - 960,
        iat: claims.iat - 960,
        ..claims.clone()
    };
    let future = AccessClaims {
        nbf: claims.iat + 3600,
        exp: claims.iat + 7200,
        ..claims.clone()
    };
    for bad in [
        AccessClaims {
            aud: "another-service".into(),
            ..claims.clone()
        },
        AccessClaims {
            iss: "https://evil.example".into(),
            ..claims.clone()
        },
        expired,
        future,
    ] {
        assert_eq!(
            me_status(&app, &forge(&app.keys, &header, &bad)).await,
            401,
            "{bad:?}"
        );
    }
    let mut id_token = header.clone();
    id_token.typ = Some("JWT".into());
    assert_eq!(
        me_status(&app, &forge(&app.keys, &id_token, &claims)).await,
        401
    );

    // Signed by a key the server never had, with its own kid or with the server's.
    let stranger = KeySetFile::generate(chrono::Utc::now()).expect("keys");
    assert_eq!(
        me_status(&app, &forge(&stranger, &header, &claims)).await,
        401
    );
    let stranger_tokens =
        AccessTokens::new(&stranger, AccessTokenSettings::default()).expect("tokens");
    let (user, session) = (
        claims.sub.parse().expect("sub"),
        claims.sid.parse().expect("sid"),
    );
    let foreign = stranger_tokens
        .mint(user, session, chrono::Utc::now())
        .expect("mint");
    assert_eq!(me_status(&app, &foreign).await, 401);

    // Not a bearer token at all.
    let basic = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", format!("Basic {token}"));
    assert_eq!(basic.send().await.expect("request").status(), 401);
    assert_eq!(me_status(&app, "not.a.jwt").await, 401);
}

async fn jwks_publishes_the_signing_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, tokens) = ann_logged_in(&app).await;
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks");
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.expect("json");
    let (header, _) = claims_of(&app, access(&tokens));
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"].as_str(), header.kid.as_deref());
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    // A client validating locally with the published key accepts the token.
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().expect("x")).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["idlog"]);
    validation.set_issuer(&["idlog"]);
    jsonwebtoken::decode::<AccessClaims>(access(&tokens), &decoding, &validation)
        .expect("valid with the JWKS key");
}

async fn introspection_needs_the_service_credential(backend: Backend) {
    let mut options = Options::default();
    options.auth.introspection_credential_hash =
        Some(commands::tokens::hash_token("service-secret"));
    let app = spawn_app_with(backend, options).await;
    let (user_id, tokens) = ann_logged_in(&app).await;
    let introspect = |credential: Option<&'static str>, token: String| {
        let mut request = app
            .client
            .post(app.url("/api/v1/auth/introspect"))
            .json(&json!({"token": token}));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        request.send()
    };
    let anonymous = introspect(None, access(&tokens).to_owned())
        .await
        .expect("request");
    problem(anonymous, 401).await;
    let wrong = introspect(Some("guess"), access(&tokens).to_owned())
        .await
        .expect("request");
    problem(wrong, 401).await;

    let active: Value = introspect(Some("service-secret"), access(&tokens).to_owned())
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], user_id.as_str());
    assert_eq!(active["sid"], tokens["session_id"]);
    assert_eq!(active["token_type"], "access_token");

    let garbage: Value = introspect(Some("service-secret"), "garbage".into())
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(garbage, json!({"active": false}));
    app.post_with_token("/api/v1/auth/logout", access(&tokens), &json!({}))
        .await;
    let ended: Value = introspect(Some("service-secret"), access(&tokens).to_owned())
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(ended, json!({"active": false}));
}

// Lockout

async fn parallel_wrong_passwords_lock_after_exactly_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, before_lock) = ann_logged_in(&app).await;
    let app = &app;
    let attempts = (0..20).map(|attempt| async move {
        let body =
            json!({"login": "ann@example.com", "password": format!("guess number {attempt}")});
        app.post("/api/v1/auth/login", &body).await
    });
    let answers = futures::future::join_all(attempts).await;
    assert!(answers.iter().all(|answer| answer.status() == 401));

    let failures = app.events_of_type("LoginFailed").await;
    let counts: Vec<u64> = failures
        .iter()
        .map(|event| event.payload["failed_attempts"].as_u64().expect("count"))
        .collect();
    assert_eq!(
        counts,
        [1, 2, 3, 4, 5],
        "exactly the configured number of failures is counted"
    );
    let locks = app.events_of_type("AccountLocked").await;
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].stream_id, user_id);
    assert_eq!(locks[0].payload["kind"], "policy");

    // Locked: the right password gets the wrong password's answer, and open sessions are gone.
    let wrong = problem(
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": "still wrong"}),
        )
        .await,
        401,
    )
    .await;
    let right = problem(
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": PASSWORD}),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(wrong, right);
    assert_eq!(me_status(app, access(&before_lock)).await, 401);
    let revoked = app.events_of_type("SessionRevoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].payload["reason"], "user_locked");
}

async fn a_lock_expires_by_time(backend: Backend) {
    let mut options = Options::default();
    options.auth.lockout.max_failed_attempts = 2;
    options.auth.lockout.lock_duration = Duration::milliseconds(700);
    let app = spawn_app_with(backend, options).await;
    ann_logged_in(&app).await;
    for _ in 0..2 {
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": "wrong password"}),
        )
        .await;
    }
    app.settle().await;
    problem(
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": PASSWORD}),
        )
        .await,
        401,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    app.login("ann@example.com", PASSWORD).await;
}

// Passwords

async fn changing_the_password_checks_the_current_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, mine) = ann_logged_in(&app).await;
    let elsewhere = app.login("ann@example.com", PASSWORD).await;
    let (app, mine) = (&app, &mine);
    let change = |current: &'static str, new: &'static str, end_others: bool| async move {
        let body = json!({"current_password": current, "new_password": new, "end_other_sessions": end_others});
        app.post_with_token("/api/v1/auth/password/change", access(mine), &body)
            .await
    };
    let wrong = problem(change("not it", "a brand new passphrase", true).await, 403).await;
    assert_eq!(wrong["errors"][0]["pointer"], "/current_password");
    let weak = problem(change(PASSWORD, "password", true).await, 422).await;
    assert_eq!(weak["errors"][0]["pointer"], "/new_password");
    assert_eq!(
        change(PASSWORD, "a brand new passphrase", true)
            .await
            .status(),
        204
    );

    assert_eq!(
        me_status(app, access(mine)).await,
        200,
        "this session goes on"
    );
    assert_eq!(
        me_status(app, access(&elsewhere)).await,
        401,
        "the others were ended"
    );
    problem(
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": PASSWORD}),
        )
        .await,
        401,
    )
    .await;
    app.login("ann@example.com", "a brand new passphrase").await;
}

async fn a_reset_token_works_once_and_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, tokens) = ann_logged_in(&app).await;
    let known = app
        .post(
            "/api/v1/auth/password/forgot",
            &json!({"email": "ann@example.com"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/password/forgot",
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(
        (known.status().as_u16(), unknown.status().as_u16()),
        (202, 202)
    );
    let (known, unknown): (Value, Value) = (
        known.json().await.expect("json"),
        unknown.json().await.expect("json"),
    );
    assert_eq!(
        known, unknown,
        "the answer does not tell whether the account exists"
    );

    let token = app.sent_token(&user_id, TokenPurpose::PasswordReset).await;
    // Whoever asked is recorded as someone not signed in, with the request's address.
    let requested = app.events_of_type("PasswordResetRequested").await;
    assert_eq!(requested.len(), 1);
    let actor = &requested[0].metadata["actor"];
    assert_eq!(actor["kind"], "anonymous", "{actor}");
    assert_eq!(actor.get("id").cloned().unwrap_or(Value::Null), Value::Null);
    assert_eq!(requested[0].metadata["ip"], "127.0.0.1");
    let weak = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": "ann@example.com"}),
        )
        .await;
    problem(weak, 422).await;
    let reset = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": "a fresh start at last"}),
        )
        .await;
    assert_eq!(reset.status(), 204);
    assert_eq!(
        me_status(&app, access(&tokens)).await,
        401,
        "every session ends with a reset"
    );
    let revoked = app.events_of_type("SessionRevoked").await;
    assert_eq!(revoked[0].payload["reason"], "password_reset");
    app.login("ann@example.com", "a fresh start at last").await;

    let again = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": "and once more please"}),
        )
        .await;
    assert_eq!(
        problem(again, 422).await["type"],
        "urn:idlog:problem:invalid-token"
    );
    for forged in [
        "garbage",
        &format!("{}.AAAA", uuid::Uuid::now_v7().simple()),
    ] {
        let response = app
            .post(
                "/api/v1/auth/password/reset",
                &json!({"token": forged, "new_password": "and once more please"}),
            )
            .await;
        assert_eq!(
            problem(response, 422).await["type"],
            "urn:idlog:problem:invalid-token"
        );
    }
}

async fn an_expired_reset_token_is_refused(backend: Backend) {
    let mut options = Options::default();
    options.auth.password_reset_lifetime = Duration::milliseconds(300);
    let app = spawn_app_with(backend, options).await;
    let (user_id, _) = ann_logged_in(&app).await;
    app.post(
        "/api/v1/auth/password/forgot",
        &json!({"email": "ann@example.com"}),
    )
    .await;
    let token = app.sent_token(&user_id, TokenPurpose::PasswordReset).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let late = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": "a fresh start at last"}),
        )
        .await;
    assert_eq!(
        problem(late, 422).await["type"],
        "urn:idlog:problem:token-expired"
    );
    app.login("ann@example.com", PASSWORD).await;
}

// Rate limits

async fn too_many_attempts_are_limited_with_retry_after(backend: Backend) {
    let mut options = Options::default();
    options.limits.login_per_account = Some(3);
    options.limits.forgot_per_ip = Some(1);
    let app = spawn_app_with(backend, options).await;
    ann_logged_in(&app).await;
    for _ in 0..2 {
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "ANN@example.com", "password": "wrong password"}),
        )
        .await;
    }
    let limited = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(
        problem(limited, 429).await["type"],
        "urn:idlog:problem:rate-limited"
    );
    app.login("ann_lee", PASSWORD).await;

    app.post(
        "/api/v1/auth/password/forgot",
        &json!({"email": "ann@example.com"}),
    )
    .await;
    let limited = app
        .post(
            "/api/v1/auth/password/forgot",
            &json!({"email": "bob@example.com"}),
        )
        .await;
    problem(limited, 429).await;
}

test_both_backends!(
    login_issues_tokens_and_records_the_session,
    wrong_passwords_and_unknown_accounts_get_one_answer,
    refresh_rotates_and_reuse_revokes_the_session,
    logout_ends_this_session_and_logout_all_every_one,
    sessions_can_be_listed_and_revoked_by_their_owner_only,
    the_oldest_session_ends_beyond_the_maximum,
    forged_and_mangled_access_tokens_are_refused,
    jwks_publishes_the_signing_key,
    introspection_needs_the_service_credential,
    parallel_wrong_passwords_lock_after_exactly_the_limit,
    a_lock_expires_by_time,
    changing_the_password_checks_the_current_one,
    a_reset_token_works_once_and_ends_every_session,
    an_expired_reset_token_is_refused,
    too_many_attempts_are_limited_with_retry_after,
);

/// Signs in through `forwarded_for` on a server trusting `trusted`; answers the address the
/// session and the login's activity row recorded.
async fn recorded_address(
    backend: Backend,
    trusted: &[&str],
    forwarded_for: &str,
) -> (String, String) {
    let app = spawn_app_with(
        backend,
        Options {
            trusted_proxies: trusted
                .iter()
                .map(|range| range.parse().expect("range"))
                .collect(),
            ..Options::default()
        },
    )
    .await;
    let user = app.register("ann@example.com", PASSWORD).await;
    let login = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"login": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let token = login.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let sessions: Value = app
        .get_with_token("/api/v1/auth/sessions", &token)
        .await
        .json()
        .await
        .expect("json");
    let head = app.head_position().await;
    let activity: Value = app
        .get_with_token(
            &format!("/api/v1/users/{user}/activity?action=LoginSucceeded&min_position={head}"),
            &token,
        )
        .await
        .json()
        .await
        .expect("json");
    (
        sessions[0]["ip"].as_str().unwrap_or_default().to_owned(),
        activity["items"][0]["ip"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn x_forwarded_for_is_believed_only_from_trusted_proxies(backend: Backend) {
    let behind_proxy = recorded_address(backend, &["127.0.0.0/8"], "198.51.100.7, 127.0.0.1").await;
    assert_eq!(
        behind_proxy,
        ("198.51.100.7".to_owned(), "198.51.100.7".to_owned())
    );
    let forged = recorded_address(backend, &[], "198.51.100.7").await;
    assert_eq!(forged, ("127.0.0.1".to_owned(), "127.0.0.1".to_owned()));
}

test_both_backends!(x_forwarded_for_is_believed_only_from_trusted_proxies);
