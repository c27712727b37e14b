//! User administration over real HTTP, on SQLite and PostgreSQL.

use crate::common::{problem, raw_post_with};
use commands::tokens::TokenPurpose;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

async fn admin_creates_reads_and_edits_users(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let created = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": "coach@example.com", "password": PASSWORD, "first_name": "Cora", "phone": "+14155550100"})),
            &[],
        )
        .await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    // Two events: the user, and the verification link their welcome carries.
    assert_eq!(etag(&created), "\"2\"");
    let user: Value = created.json().await.expect("json");
    let id = user["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/v1/users/{id}"));
    assert_eq!(user["roles"], json!(["user"]));
    let created_events = app.events_of_type("UserCreated").await;
    let metadata = created_events
        .last()
        .expect("created")
        .metadata()
        .expect("metadata");
    assert_eq!(metadata.actor.kind, eventstore::ActorKind::Admin);

    // A reset link proves the address, then a new address must be proven again.
    let reset = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{id}/password-reset"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(reset.status(), 202);
    let token = app.sent_token(&id, TokenPurpose::PasswordReset).await;
    let done = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": "a new passphrase"}),
        )
        .await;
    assert_eq!(done.status(), 204);
    let read = app
        .get_with_token(&format!("/api/v1/users/{id}"), &admin)
        .await;
    let version = etag(&read);
    let read: Value = read.json().await.expect("json");
    assert_eq!(read["verification_status"], "email_verified");
    // One precision for every time in an answer, whether it was folded from the log
    // (nanoseconds) or read from a table (microseconds).
    for field in ["created_at", "updated_at", "email_verified_at"] {
        let text = read[field].as_str().expect("a time");
        let fraction = text
            .strip_suffix('Z')
            .and_then(|text| text.split_once('.'))
            .map(|(_, fraction)| fraction);
        assert_eq!(fraction.map(str::len), Some(6), "{field}: {text}");
    }

    let patch =
        json!({"email": "cora@example.com", "last_name": "Lee", "phone": null, "username": "cora"});
    let stale = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &admin,
            Some(patch.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        problem(stale, 412).await["type"],
        "urn:idlog:problem:version-mismatch"
    );
    let bad = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &admin,
            Some(patch.clone()),
            &[("if-match", "yesterday")],
        )
        .await;
    problem(bad, 400).await;
    let patched = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &admin,
            Some(patch),
            &[("if-match", &version)],
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_ne!(etag(&patched), version);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(patched["email"], "cora@example.com");
    assert_eq!(
        patched["verification_status"], "not_verified",
        "a new address is not verified"
    );
    assert_eq!(
        (
            patched["first_name"].as_str(),
            patched["last_name"].as_str()
        ),
        (Some("Cora"), Some("Lee"))
    );
    assert_eq!(
        (patched["phone"].clone(), patched["username"].as_str()),
        (Value::Null, Some("cora"))
    );
    // The welcomes of the administrator and of the created user, and the new address's link.
    assert_eq!(
        app.events_of_type("EmailVerificationRequested").await.len(),
        3
    );

    // The old address is free again, the new one is taken.
    app.register("coach@example.com", PASSWORD).await;
    let taken = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": "CORA@example.com"})),
            &[],
        )
        .await;
    assert_eq!(
        problem(taken, 409).await["type"],
        "urn:idlog:problem:email-taken"
    );
    let invalid = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": "nope", "roles": ["not a role"], "password": "short"})),
            &[],
        )
        .await;
    let invalid = problem(invalid, 422).await;
    let pointers: Vec<&str> = invalid["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert_eq!(pointers, ["/email", "/roles/0"]);
    // A well-formed role the catalog does not have is named, with the catalog.
    let unknown = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": "wiz@example.com", "roles": ["wizard"]})),
            &[],
        )
        .await;
    let unknown = problem(unknown, 422).await;
    assert_eq!(unknown["errors"][0]["pointer"], "/roles");
    assert_eq!(
        unknown["errors"][0]["detail"],
        "wizard: unknown; one of admin, analyst, auditor, user"
    );
}

async fn an_invited_user_sets_a_first_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let created = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": "new@example.com"})),
            &[],
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let invitations = app.events_of_type("PasswordResetRequested").await;
    assert_eq!(
        invitations.last().expect("invitation").payload["purpose"],
        "invitation"
    );
    problem(
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "new@example.com", "password": PASSWORD}),
        )
        .await,
        401,
    )
    .await;
    let token = app.sent_token(&id, TokenPurpose::PasswordReset).await;
    let set = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": PASSWORD}),
        )
        .await;
    assert_eq!(set.status(), 204);
    app.login("new@example.com", PASSWORD).await;
}

async fn users_see_and_edit_only_themselves(backend: Backend) {
    let mut options = Options::default();
    options.auth.roles = domain::role_catalog::RoleCatalog::seed(
        &[domain::values::Role::parse("COACH").expect("role")],
        &[],
    );
    let app = spawn_app_with(backend, options).await;
    let (admin_id, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    assert_eq!(
        app.get_with_token(&format!("/api/v1/users/{ann}"), &token)
            .await
            .status(),
        200
    );
    problem(
        app.get_with_token(&format!("/api/v1/users/{admin_id}"), &token)
            .await,
        404,
    )
    .await;
    problem(
        app.get_with_token("/api/v1/users/not-an-id", &token).await,
        404,
    )
    .await;
    // `me` is the caller, for reading and editing alike.
    let me = app.get_with_token("/api/v1/users/me", &token).await;
    assert_eq!(me.status(), 200);
    assert!(me.headers().contains_key("etag"));
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["id"], ann.as_str());
    let renamed = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            &token,
            Some(json!({"first_name": "Annie"})),
            &[],
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.expect("json");
    assert_eq!(
        (renamed["id"].as_str(), renamed["first_name"].as_str()),
        (Some(ann.as_str()), Some("Annie"))
    );
    let own = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann}"),
            &token,
            Some(json!({"first_name": "Ann"})),
            &[],
        )
        .await;
    assert_eq!(own.status(), 200);
    let promote = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann}"),
            &token,
            Some(json!({"roles": ["admin"]})),
            &[],
        )
        .await;
    problem(promote, 403).await;
    let create = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &token,
            Some(json!({"email": "x@example.com"})),
            &[],
        )
        .await;
    problem(create, 403).await;
    let lock_self = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{ann}/lock"),
            &token,
            Some(json!({})),
            &[],
        )
        .await;
    problem(lock_self, 403).await;
    let others = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{admin_id}/lock"),
            &token,
            Some(json!({})),
            &[],
        )
        .await;
    problem(others, 404).await;
    problem(
        app.client
            .get(app.url(&format!("/api/v1/users/{ann}")))
            .send()
            .await
            .expect("request"),
        401,
    )
    .await;

    // Roles come from the catalog, configured ones included.
    let unknown = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann}"),
            &admin,
            Some(json!({"roles": ["wizard"]})),
            &[],
        )
        .await;
    problem(unknown, 422).await;
    let coach = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann}"),
            &admin,
            Some(json!({"roles": ["COACH"]})),
            &[],
        )
        .await;
    assert_eq!(coach.status(), 200);
    assert_eq!(
        coach.json::<Value>().await.expect("json")["roles"],
        json!(["COACH"])
    );
    assert_eq!(app.events_of_type("RoleRevoked").await.len(), 1);
    assert_eq!(app.events_of_type("RoleGranted").await.len(), 1);
}

async fn lifecycle_commands_end_sessions_and_retry_safely(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let session = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let path = |action: &str| format!("/api/v1/users/{ann}/{action}");

    let key = [("idempotency-key", "lock-ann-1")];
    let lock = json!({"reason": "suspicious activity"});
    let first = app
        .send(
            reqwest::Method::POST,
            &path("lock"),
            &admin,
            Some(lock.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status(), 200);
    let first_etag = etag(&first);
    let again = app
        .send(
            reqwest::Method::POST,
            &path("lock"),
            &admin,
            Some(lock),
            &key,
        )
        .await;
    assert_eq!(again.status(), 200, "a retry answers like the first time");
    assert_eq!(etag(&again), first_etag);
    assert_eq!(
        app.events_of_type("AccountLocked").await.len(),
        1,
        "and appends nothing"
    );
    let reused = app
        .send(
            reqwest::Method::POST,
            &path("lock"),
            &admin,
            Some(json!({"reason": "other"})),
            &key,
        )
        .await;
    assert_eq!(
        problem(reused, 422).await["type"],
        "urn:idlog:problem:idempotency-key-reused"
    );

    assert_eq!(
        app.get_with_token("/api/v1/auth/me", &session)
            .await
            .status(),
        401,
        "locking ends sessions"
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
    let lockout: Value = app
        .get_with_token(&path("lockout"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            lockout["is_locked"].as_bool(),
            lockout["locked_by"].as_str()
        ),
        (Some(true), Some("admin"))
    );
    assert_eq!(
        app.send(reqwest::Method::POST, &path("unlock"), &admin, None, &[])
            .await
            .status(),
        200
    );
    problem(
        app.send(reqwest::Method::POST, &path("unlock"), &admin, None, &[])
            .await,
        409,
    )
    .await;
    let in_past = json!({"until": "2001-01-01T00:00:00Z"});
    problem(
        app.send(
            reqwest::Method::POST,
            &path("lock"),
            &admin,
            Some(in_past),
            &[],
        )
        .await,
        422,
    )
    .await;

    let session = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    for _ in 0..2 {
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": "wrong guess"}),
        )
        .await;
    }
    app.settle().await;
    let lockout: Value = app
        .get_with_token(&path("lockout"), &session)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            lockout["failed_attempts"].as_u64(),
            lockout["remaining_attempts"].as_u64()
        ),
        (Some(2), Some(3))
    );

    assert_eq!(
        app.send(
            reqwest::Method::POST,
            &path("deactivate"),
            &admin,
            Some(json!({})),
            &[]
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.get_with_token("/api/v1/auth/me", &session)
            .await
            .status(),
        401,
        "deactivating ends sessions"
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
    assert_eq!(
        app.send(
            reqwest::Method::POST,
            &path("reactivate"),
            &admin,
            None,
            &[]
        )
        .await
        .status(),
        200
    );
    app.login("ann@example.com", PASSWORD).await;

    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{ann}"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        deleted.json::<Value>().await.expect("json")["status"],
        "deleted"
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
    problem(
        app.send(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{ann}"),
            &admin,
            None,
            &[],
        )
        .await,
        404,
    )
    .await;
    app.register("ann@example.com", PASSWORD).await;
}

async fn users_keep_their_profile(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_id, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let path = format!("/api/v1/users/{ann}/profile");
    let empty = app.get_with_token(&path, &token).await;
    assert_eq!(empty.status(), 200);
    let version = etag(&empty);
    let profile = json!({
        "address": {"line1": "1 Main St", "city": "Springfield", "country": "us"},
        "emergency_contact": {"name": "Bo Lee", "phone": "+14155550123"},
        "preferred_language": "pt-BR",
        "notification_preferences": {"email": true, "sms": {"marketing": false}}
    });
    let put = app
        .send(
            reqwest::Method::PUT,
            &path,
            &token,
            Some(profile),
            &[("if-match", &version)],
        )
        .await;
    assert_eq!(put.status(), 200);
    let saved: Value = put.json().await.expect("json");
    assert_eq!(saved["address"]["country"], "US");
    assert_eq!(saved["preferred_language"], "pt-BR");
    let read: Value = app
        .get_with_token(&path, &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read, saved);

    let stale = app
        .send(
            reqwest::Method::PUT,
            &path,
            &token,
            Some(json!({})),
            &[("if-match", &version)],
        )
        .await;
    problem(stale, 412).await;
    let bad_country =
        json!({"address": {"line1": "1 Main St", "city": "Springfield", "country": "USA"}});
    let bad = problem(
        app.send(reqwest::Method::PUT, &path, &token, Some(bad_country), &[])
            .await,
        422,
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/address/country");
    let huge = json!({"notification_preferences": {"note": "x".repeat(5000)}});
    let huge = problem(
        app.send(reqwest::Method::PUT, &path, &token, Some(huge), &[])
            .await,
        422,
    )
    .await;
    assert_eq!(huge["errors"][0]["pointer"], "/notification_preferences");
    let not_object = json!({"notification_preferences": [1, 2]});
    problem(
        app.send(reqwest::Method::PUT, &path, &token, Some(not_object), &[])
            .await,
        422,
    )
    .await;
    problem(
        app.send(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{admin_id}/profile"),
            &token,
            Some(json!({})),
            &[],
        )
        .await,
        404,
    )
    .await;
    assert_eq!(
        app.send(reqwest::Method::PUT, &path, &admin, Some(json!({})), &[])
            .await
            .status(),
        200,
        "administrators may"
    );
}

/// A stolen access token alone does not become a permanent takeover: changing one's own email
/// or phone after the sign-in has aged needs the current password.
async fn changing_ones_own_email_or_phone_needs_a_fresh_proof(backend: Backend) {
    let mut options = Options::default();
    options.auth.reauth_window = domain::Duration::zero();
    let app = spawn_app_with(backend, options).await;
    let id = app.register("ann@example.com", PASSWORD).await;
    let token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let path = format!("/api/v1/users/{id}");
    let patch = |body: Value| app.send(reqwest::Method::PATCH, &path, &token, Some(body), &[]);
    for body in [
        json!({"email": "thief@example.com"}),
        json!({"phone": "+14155550100"}),
    ] {
        let refused = problem(patch(body).await, 403).await;
        assert_eq!(
            refused["type"],
            "urn:idlog:problem:reauthentication-required"
        );
    }
    let wrong = patch(json!({"email": "thief@example.com", "current_password": "not it at all"}));
    let wrong = problem(wrong.await, 403).await;
    assert_eq!(wrong["type"], "urn:idlog:problem:wrong-password");
    // Names need no proof; the current password unlocks the rest.
    assert_eq!(patch(json!({"first_name": "Anne"})).await.status(), 200);
    let changed = patch(json!({"email": "ann@new.example", "current_password": PASSWORD})).await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.expect("json");
    assert_eq!(changed["email"], "ann@new.example");

    // Within `auth.reauth_minutes` of signing in, no password is asked for.
    let app = spawn_app(backend).await;
    let id = app.register("bob@example.com", PASSWORD).await;
    let token = app.login("bob@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let changed = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &token,
            Some(json!({"phone": "+14155550101"})),
            &[],
        )
        .await;
    assert_eq!(changed.status(), 200);
}

/// Token answers and personal data are not cached; an administrator's reset links to one
/// account are limited like forgot-password ones; a search for a control character, or by an
/// unknown verification status, is refused.
async fn answers_are_not_cached_and_resets_are_limited(backend: Backend) {
    let mut options = Options::default();
    options.limits.forgot_per_account = Some(3);
    let app = spawn_app_with(backend, options).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let login = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.headers()["cache-control"], "no-store");
    let read = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{ann}"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(read.headers()["cache-control"], "no-store");

    let reset_path = format!("/api/v1/users/{ann}/password-reset");
    // The command takes no body: a field in one is refused as on every other command, not
    // ignored (an administrator setting a password here would believe it set).
    let with_password = app
        .send(
            reqwest::Method::POST,
            &reset_path,
            &admin,
            Some(json!({"new_password": "an administrator's choice"})),
            &[],
        )
        .await;
    let refused = problem(with_password, 422).await;
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("new_password")),
        "{refused}"
    );
    assert!(
        app.events_of_type("PasswordResetRequested")
            .await
            .is_empty()
    );
    let with_nothing = app
        .send(
            reqwest::Method::POST,
            &reset_path,
            &admin,
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(with_nothing.status(), 202);
    let reset = || app.send(reqwest::Method::POST, &reset_path, &admin, None, &[]);
    for _ in 0..2 {
        assert_eq!(reset().await.status(), 202);
    }
    let limited = reset().await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429).await;

    for query in ["q=%00", "q=a%01b", "verification=nonsense"] {
        let search = app
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/users?{query}"),
                &admin,
                None,
                &[],
            )
            .await;
        problem(search, 400).await;
    }
}

/// Administrators set a person's password (their sessions end) and vouch for their email
/// address or phone number with a reason; both are audited, and neither is for oneself.
async fn administrators_set_passwords_and_verify_contacts_by_hand(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_id, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let ann_token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let call = |method: reqwest::Method, path: String, token: String, body: Value| {
        let app = &app;
        async move { app.send(method, &path, &token, Some(body), &[]).await }
    };
    let set = |user: &str, token: &str, body: Value| {
        call(
            reqwest::Method::PUT,
            format!("/api/v1/users/{user}/password"),
            token.to_owned(),
            body,
        )
    };

    problem(set(&ann, &admin, json!({"password": "short"})).await, 422).await;
    problem(
        set(&ann, &admin, json!({"password": "a new one", "x": 1})).await,
        422,
    )
    .await;
    problem(
        set(
            &ann,
            &ann_token,
            json!({"password": "chosen by ann herself"}),
        )
        .await,
        403,
    )
    .await;
    problem(
        set(
            &admin_id,
            &admin,
            json!({"password": "my own without the old one"}),
        )
        .await,
        403,
    )
    .await;
    let done = set(&ann, &admin, json!({"password": "set by the help desk"})).await;
    assert_eq!(done.status(), 200);
    let me = app
        .send(
            reqwest::Method::GET,
            "/api/v1/auth/me",
            &ann_token,
            None,
            &[],
        )
        .await;
    assert_eq!(me.status(), 401, "her sessions ended");
    app.login("ann@example.com", "set by the help desk").await;
    let set_events = app.events_of_type("PasswordSet").await;
    assert_eq!(set_events.len(), 1);
    assert_eq!(set_events[0].metadata["actor"]["kind"], "admin");
    assert_eq!(set_events[0].metadata["actor"]["id"], admin_id.as_str());
    let revoked = app.events_of_type("SessionRevoked").await;
    assert!(
        revoked
            .iter()
            .any(|event| event.payload["reason"] == "password_set")
    );

    let verify = |what: &str, user: &str, body: Value| {
        call(
            reqwest::Method::POST,
            format!("/api/v1/users/{user}/verify-{what}"),
            admin.clone(),
            body,
        )
    };
    problem(verify("email", &ann, json!({})).await, 422).await;
    problem(verify("email", &ann, json!({"reason": "  "})).await, 422).await;
    problem(
        verify("email", &admin_id, json!({"reason": "it is me"})).await,
        403,
    )
    .await;
    let no_phone = problem(
        verify("phone", &ann, json!({"reason": "called her"})).await,
        422,
    )
    .await;
    assert_eq!(no_phone["type"], "urn:idlog:problem:no-phone-number");
    let verified = verify(
        "email",
        &ann,
        json!({"reason": "seen her passport at the desk"}),
    )
    .await;
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.expect("json");
    assert_eq!(verified["verification_status"], "email_verified");
    let again = problem(verify("email", &ann, json!({"reason": "twice"})).await, 409).await;
    assert_eq!(again["type"], "urn:idlog:problem:email-already-verified");
    let events = app.events_of_type("EmailVerified").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].payload["by_hand"],
        "seen her passport at the desk"
    );
    assert_eq!(events[0].metadata["actor"]["kind"], "admin");

    let patched = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann}"),
            &admin,
            Some(json!({"phone": "+14155550100"})),
            &[],
        )
        .await;
    assert_eq!(patched.status(), 200);
    let verified = verify("phone", &ann, json!({"reason": "called her back"})).await;
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.expect("json");
    assert!(verified["phone_verified_at"].is_string(), "{verified}");
}

/// A new user's preferred language starts from the installation's default, whoever creates
/// them; they change it in their profile.
async fn a_new_users_language_starts_from_the_default(backend: Backend) {
    let mut options = Options::default();
    options.auth.default_language = domain::values::LanguageTag::parse("pt-BR").expect("tag");
    let app = spawn_app_with(backend, options).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let created = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": "bob@example.com"})),
            &[],
        )
        .await;
    assert_eq!(created.status(), 201);
    let bob = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for user in [ann, bob] {
        let profile: Value = app
            .get_with_token(&format!("/api/v1/users/{user}/profile"), &admin)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(profile["preferred_language"], "pt-BR", "{profile}");
    }
}

/// A deleted user comes back within the restore window as they were, without their
/// memberships; a value someone took since, or a window passed, keeps them deleted.
async fn a_deleted_user_is_restored_within_the_window(backend: Backend) {
    let mut options = Options::default();
    options.auth.restore_window = domain::Duration::seconds(3);
    let app = spawn_app_with(backend, options).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let bob = app.register("bob@example.com", PASSWORD).await;
    let cat = app.register("cat@example.com", PASSWORD).await;
    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (app, admin) = (&app, admin.clone());
        async move { app.send(method, &path, &admin, body, &[]).await }
    };
    let created = send(
        reqwest::Method::POST,
        "/api/v1/organizations".into(),
        Some(json!({"name": "rowing"})),
    )
    .await;
    let rowing = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let added = send(
        reqwest::Method::POST,
        format!("/api/v1/organizations/{rowing}/members"),
        Some(json!({"user_id": ann, "role": "member"})),
    )
    .await;
    assert_eq!(added.status(), 201);
    let restore = |user: &str| {
        send(
            reqwest::Method::POST,
            format!("/api/v1/users/{user}/restore"),
            None,
        )
    };

    let not_deleted = problem(restore(&ann).await, 409).await;
    assert_eq!(not_deleted["type"], "urn:idlog:problem:user-not-deleted");
    for user in [&ann, &bob, &cat] {
        let deleted = send(
            reqwest::Method::DELETE,
            format!("/api/v1/users/{user}"),
            None,
        )
        .await;
        assert_eq!(deleted.status(), 200);
    }
    let restored = restore(&ann).await;
    assert_eq!(restored.status(), 200);
    let restored: Value = restored.json().await.expect("json");
    assert_eq!(restored["status"], "active");
    app.login("ann@example.com", PASSWORD).await;
    let organization = send(
        reqwest::Method::GET,
        format!("/api/v1/organizations/{rowing}"),
        None,
    )
    .await
    .json::<Value>()
    .await
    .expect("json");
    assert_eq!(organization["members"], json!([]), "memberships stay ended");

    // Bob's address was taken while he was deleted: the conflict names the field.
    app.register("bob@example.com", PASSWORD).await;
    let taken = problem(restore(&bob).await, 409).await;
    assert_eq!(taken["errors"][0]["pointer"], "/email", "{taken}");
    // Cat's window passes.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let late = problem(restore(&cat).await, 410).await;
    assert_eq!(late["type"], "urn:idlog:problem:restore-window-passed");
    assert_eq!(app.events_of_type("UserRestored").await.len(), 1);
}

/// A password set to be temporary (at creation, or by an administrator) gets a change token at
/// sign-in, never a session, until the person sets their own.
async fn a_temporary_password_is_changed_before_the_account_is_used(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let create = |body: Value| {
        app.send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(body),
            &[],
        )
    };
    let invalid = create(json!({"email": "eve@example.com", "temporary_password": true})).await;
    let invalid = problem(invalid, 422).await;
    assert_eq!(invalid["errors"][0]["pointer"], "/temporary_password");
    let created = create(json!({
        "email": "eve@example.com",
        "password": "given to eve on paper",
        "temporary_password": true,
    }))
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["password_change_required"], true);
    let eve = created["id"].as_str().expect("id").to_owned();

    let sign_in = async |password: &str| {
        app.post(
            "/api/v1/auth/login",
            &json!({"login": "eve@example.com", "password": password}),
        )
        .await
    };
    let answer = sign_in("given to eve on paper").await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.expect("json");
    assert_eq!(answer["password_change_required"], true, "{answer}");
    assert!(answer.get("access_token").is_none(), "no session: {answer}");
    assert!(
        app.events_of_type("LoginSucceeded")
            .await
            .iter()
            .all(|e| e.stream_id != eve)
    );
    // A wrong password is still just a wrong password.
    problem(sign_in("not the one on paper").await, 401).await;
    let token = answer["change_token"].as_str().expect("token");
    let changed = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": "eve's very own secret"}),
        )
        .await;
    assert_eq!(changed.status(), 204);
    problem(sign_in("given to eve on paper").await, 401).await;
    let session = app.login("eve@example.com", "eve's very own secret").await;
    assert!(session["access_token"].is_string(), "{session}");
    // The change token came with a sign-in, not by email: the address is still unproved.
    let read = app
        .get_with_token(&format!("/api/v1/users/{eve}"), &admin)
        .await;
    let read: Value = read.json().await.expect("json");
    assert_eq!(read["verification_status"], "not_verified");
    assert_eq!(read["password_change_required"], false);

    // An administrator's temporary password: the same, and her sessions end.
    let set = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{eve}/password"),
            &admin,
            Some(json!({"password": "reset at the help desk", "temporary": true})),
            &[],
        )
        .await;
    assert_eq!(set.status(), 200);
    let answer: Value = sign_in("reset at the help desk")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["password_change_required"], true, "{answer}");
}

test_both_backends!(
    a_new_users_language_starts_from_the_default,
    a_deleted_user_is_restored_within_the_window,
    a_temporary_password_is_changed_before_the_account_is_used,
    administrators_set_passwords_and_verify_contacts_by_hand,
    answers_are_not_cached_and_resets_are_limited,
    changing_ones_own_email_or_phone_needs_a_fresh_proof,
    a_profile_picture_is_checked_stored_and_replaced,
    users_keep_their_profile,
    admin_creates_reads_and_edits_users,
    an_invited_user_sets_a_first_password,
    users_see_and_edit_only_themselves,
    lifecycle_commands_end_sessions_and_retry_safely,
);

/// A `width`×`width` image of noise in `format` (noise does not compress: a large body).
fn picture(format: image::ImageFormat, width: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let image = image::RgbImage::from_fn(width, width, |_, _| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

/// PNG's CRC-32 (ISO 3309), to make a header that lies only about the image's size.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn a_profile_picture_is_checked_stored_and_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let path = format!("/api/v1/users/{ann}/profile/picture");
    let upload = |bytes: Vec<u8>, token: String| {
        let request = app
            .client
            .post(app.url(&path))
            .bearer_auth(token)
            .header("content-type", "image/png")
            .body(bytes);
        async move { request.send().await.expect("request") }
    };
    let stored_files = || {
        let folder = app
            .objects_folder
            .path()
            .join(format!("accounts/{ann}/profile"));
        std::fs::read_dir(folder)
            .map(|entries| entries.count())
            .unwrap_or(0)
    };

    // Lies about its type, or too large: refused, and nothing stored.
    let text = upload(b"<svg>not really</svg>".to_vec(), token.clone()).await;
    assert_eq!(
        problem(text, 415).await["type"],
        "urn:idlog:problem:unsupported-image"
    );
    // Declared too large: refused before the body is read (a client would see a broken pipe).
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Content-Type", "image/png"),
        ("Authorization", bearer.as_str()),
    ];
    let huge = raw_post_with(&app.address, &path, &headers, 5 * 1024 * 1024 + 1, b"").await;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    assert!(huge.contains("urn:idlog:problem:body-too-large"), "{huge}");
    assert!(huge.contains("Pictures are limited to 5 MiB"), "{huge}");
    // A signature with no image behind it, and a header claiming 30000×30000 pixels.
    let mut html = b"\x89PNG\r\n\x1a\n".to_vec();
    html.extend_from_slice(b"<html><script>alert(1)</script></html>");
    let html = upload(html, token.clone()).await;
    assert_eq!(
        problem(html, 422).await["type"],
        "urn:idlog:problem:broken-image"
    );
    let mut claim = picture(image::ImageFormat::Png, 1);
    claim[16..20].copy_from_slice(&30_000u32.to_be_bytes());
    claim[20..24].copy_from_slice(&30_000u32.to_be_bytes());
    let crc = crc32(&claim[12..29]);
    claim[29..33].copy_from_slice(&crc.to_be_bytes());
    let claim = upload(claim, token.clone()).await;
    assert_eq!(
        problem(claim, 422).await["type"],
        "urn:idlog:problem:image-too-large"
    );
    assert_eq!(stored_files(), 0);
    assert!(app.events_of_type("ProfilePictureSet").await.is_empty());

    // Over the 1 MiB of other bodies, and with HTML appended: stored encoded again, so the
    // appendix is gone.
    let mut sent = picture(image::ImageFormat::Png, 700);
    assert!(sent.len() > 1024 * 1024);
    sent.extend_from_slice(b"<html><script>alert(1)</script></html>");
    let stored = upload(sent, token.clone()).await;
    assert_eq!(
        stored.status(),
        200,
        "a picture may be over the 1 MiB cap of other bodies"
    );
    let stored: Value = stored.json().await.expect("json");
    assert_eq!(stored["key"], format!("accounts/{ann}/profile/picture.png"));
    let read = app.get_with_token(&path, &admin).await;
    assert_eq!(read.headers()["content-type"], "image/png");
    assert_eq!(read.headers()["x-content-type-options"], "nosniff");
    assert!(
        read.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("sandbox")
    );
    let served = read.bytes().await.expect("bytes");
    assert_eq!(served.len() as u64, stored["size"].as_u64().expect("size"));
    assert!(!served.windows(8).any(|window| window == b"<script>"));
    let decoded = image::load_from_memory(&served).expect("an image");
    assert_eq!((decoded.width(), decoded.height()), (700, 700));
    // Renditions at 256 and 64 pixels, beside it.
    assert_eq!(stored["renditions"], json!([256, 64]));
    assert_eq!(stored_files(), 3);
    for size in [256, 64] {
        let read = app
            .get_with_token(&format!("{path}?size={size}"), &admin)
            .await;
        assert_eq!(read.status(), 200);
        assert_eq!(read.headers()["content-type"], "image/png");
        let image = image::load_from_memory(&read.bytes().await.expect("bytes")).expect("image");
        assert_eq!((image.width(), image.height()), (size, size));
    }
    problem(
        app.get_with_token(&format!("{path}?size=100"), &admin)
            .await,
        400,
    )
    .await;

    // A JPEG sent as a form replaces the PNG, files and all.
    let jpeg = picture(image::ImageFormat::Jpeg, 16);
    let form = reqwest::multipart::Form::new().part(
        "picture",
        reqwest::multipart::Part::bytes(jpeg)
            .file_name("me.jpg")
            .mime_str("image/jpeg")
            .expect("mime"),
    );
    let sent = app
        .client
        .post(app.url(&path))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    assert_eq!(sent.status(), 200);
    // Three files: a picture smaller than a rendition is not enlarged, still stored at it.
    assert_eq!(stored_files(), 3);
    let no_field = app
        .client
        .post(app.url(&path))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().text("other", "x"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        problem(no_field, 422).await["errors"][0]["pointer"],
        "/picture"
    );
    assert!(
        app.objects_folder
            .path()
            .join(format!("accounts/{ann}/profile/picture.jpg"))
            .is_file()
    );
    let removed = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(removed.status(), 204);
    assert_eq!(stored_files(), 0);
    problem(app.get_with_token(&path, &token).await, 404).await;
    problem(
        app.client
            .delete(app.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request"),
        404,
    )
    .await;
    // A deactivated account's upload is refused, and nothing it sent stays in storage.
    let deactivated = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{ann}/deactivate"),
            &admin,
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(deactivated.status(), 200);
    let request = app
        .client
        .post(app.url(&path))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(picture(image::ImageFormat::Png, 300));
    let refused = request.send().await.expect("request");
    problem(refused, 409).await;
    assert_eq!(stored_files(), 0);
}

/// An idempotency key is the caller's own: another person's same key, on the same path with the
/// same body, neither replays the first one's answer nor is refused.
async fn an_idempotency_key_belongs_to_its_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut tokens = Vec::new();
    for email in ["ann@example.com", "bob@example.com"] {
        app.register(email, PASSWORD).await;
        tokens.push(
            app.login(email, PASSWORD).await["access_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        );
    }
    let key = [("idempotency-key", "rename-1")];
    let body = json!({"first_name": "Sam"});
    for token in &tokens {
        let renamed = app
            .send(
                reqwest::Method::PATCH,
                "/api/v1/users/me",
                token,
                Some(body.clone()),
                &key,
            )
            .await;
        assert_eq!(renamed.status(), 200);
    }
    assert_eq!(app.events_of_type("ProfileUpdated").await.len(), 2);
}

test_both_backends!(an_idempotency_key_belongs_to_its_caller);
