//! Organizations and their members over real HTTP, on SQLite and PostgreSQL.

mod common;

use common::{TestApp, problem, spawn_app};
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

async fn create_organization(app: &TestApp, admin: &str, name: &str) -> String {
    let created = call(
        app,
        reqwest::Method::POST,
        "/api/v1/organizations",
        admin,
        Some(json!({"name": name, "contact_email": "desk@example.com"})),
    )
    .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Registers and logs in `email`; returns the user id and access token.
async fn user(app: &TestApp, email: &str) -> (String, String) {
    let id = app.register(email, PASSWORD).await;
    let token = app.login(email, PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    (id, token)
}

async fn add(
    app: &TestApp,
    token: &str,
    organization: &str,
    user_id: &str,
    role: &str,
) -> reqwest::Response {
    let body = json!({"user_id": user_id, "role": role, "permissions": ["can_view_reports"]});
    call(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{organization}/members"),
        token,
        Some(body),
    )
    .await
}

async fn members_and_org_admins_manage_only_their_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = create_organization(&app, &admin, "acme").await;
    let globex = create_organization(&app, &admin, "globex").await;
    let duplicate = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/organizations",
        &admin,
        Some(json!({"name": "ACME"})),
    )
    .await;
    assert_eq!(
        problem(duplicate, 409).await["type"],
        "urn:idlog:problem:organization-name-taken"
    );

    let (boss_id, boss) = user(&app, "boss@example.com").await;
    let (ann_id, ann) = user(&app, "ann@example.com").await;
    let (bob_id, bob) = user(&app, "bob@example.com").await;
    assert_eq!(
        add(&app, &admin, &acme, &boss_id, "org_admin")
            .await
            .status(),
        201
    );

    // The org_admin manages acme's members; a plain member cannot; globex is invisible to both.
    assert_eq!(
        add(&app, &boss, &acme, &ann_id, "member").await.status(),
        201
    );
    problem(add(&app, &boss, &acme, &ann_id, "member").await, 409).await;
    problem(add(&app, &ann, &acme, &bob_id, "member").await, 403).await;
    problem(add(&app, &boss, &globex, &bob_id, "member").await, 404).await;
    problem(
        call(
            &app,
            reqwest::Method::GET,
            &format!("/api/v1/organizations/{globex}"),
            &boss,
            None,
        )
        .await,
        404,
    )
    .await;
    let unknown_flag = json!({"user_id": bob_id, "permissions": ["can_launch_rockets"]});
    let unknown_flag = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{acme}/members"),
        &boss,
        Some(unknown_flag),
    )
    .await;
    assert_eq!(
        problem(unknown_flag, 422).await["errors"][0]["pointer"],
        "/permissions/0"
    );
    let nobody = json!({"user_id": uuid::Uuid::now_v7().to_string()});
    problem(
        call(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/organizations/{acme}/members"),
            &boss,
            Some(nobody),
        )
        .await,
        422,
    )
    .await;

    // Members read their organization and see it in /auth/me.
    let read = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/organizations/{acme}"),
        &ann,
        None,
    )
    .await;
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.expect("json");
    assert_eq!(read["members"].as_array().expect("members").len(), 2);
    let me: Value = app
        .get_with_token("/api/v1/auth/me", &ann)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["organizations"][0]["name"], "acme");
    assert_eq!(me["organizations"][0]["role"], "member");
    assert_eq!(
        me["organizations"][0]["permissions"],
        json!(["can_view_reports"])
    );
    let me: Value = app
        .get_with_token("/api/v1/auth/me", &bob)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["organizations"], json!([]));

    // The org_admin sees its members' users, not others'; names and status stay the admin's.
    assert_eq!(
        app.get_with_token(&format!("/api/v1/users/{ann_id}"), &boss)
            .await
            .status(),
        200
    );
    problem(
        app.get_with_token(&format!("/api/v1/users/{bob_id}"), &boss)
            .await,
        404,
    )
    .await;
    let rename = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme}"),
        &boss,
        Some(json!({"name": "acme2"})),
    )
    .await;
    problem(rename, 403).await;
    let contact = json!({"display_name": "ACME Corp", "contact_name": "Wile"});
    let contact = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme}"),
        &boss,
        Some(contact),
    )
    .await;
    assert_eq!(contact.status(), 200);
    let contact: Value = contact.json().await.expect("json");
    assert_eq!(
        (
            contact["display_name"].as_str(),
            contact["contact_email"].as_str()
        ),
        (Some("ACME Corp"), Some("desk@example.com"))
    );

    // Role changes and removal.
    let promote = json!({"role": "readonly"});
    let changed = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme}/members/{ann_id}"),
        &boss,
        Some(promote),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let removed = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/organizations/{acme}/members/{ann_id}"),
        &boss,
        None,
    )
    .await;
    assert_eq!(removed.status(), 200);
    let me: Value = app
        .get_with_token("/api/v1/auth/me", &ann)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["organizations"], json!([]));
    problem(
        call(
            &app,
            reqwest::Method::GET,
            &format!("/api/v1/organizations/{acme}"),
            &ann,
            None,
        )
        .await,
        404,
    )
    .await;
    problem(
        call(
            &app,
            reqwest::Method::DELETE,
            &format!("/api/v1/organizations/{acme}/members/{ann_id}"),
            &boss,
            None,
        )
        .await,
        404,
    )
    .await;
}

async fn an_org_admin_creates_users_in_their_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = create_organization(&app, &admin, "acme").await;
    let globex = create_organization(&app, &admin, "globex").await;
    let (boss_id, boss) = user(&app, "boss@example.com").await;
    add(&app, &admin, &acme, &boss_id, "org_admin").await;

    let created = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/users",
        &boss,
        Some(json!({"email": "new@example.com", "organization": acme})),
    )
    .await;
    assert_eq!(created.status(), 201);
    let new_id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let organization: Value = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/organizations/{acme}"),
        &boss,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert!(
        organization["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|member| member["user_id"] == new_id.as_str())
    );
    let elsewhere = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/users",
        &boss,
        Some(json!({"email": "x@example.com", "organization": globex})),
    )
    .await;
    problem(elsewhere, 403).await;
    let no_organization = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/users",
        &boss,
        Some(json!({"email": "y@example.com"})),
    )
    .await;
    problem(no_organization, 403).await;
    let with_role = json!({"email": "z@example.com", "organization": acme, "roles": ["admin"]});
    problem(
        call(
            &app,
            reqwest::Method::POST,
            "/api/v1/users",
            &boss,
            Some(with_role),
        )
        .await,
        403,
    )
    .await;
}

async fn members_of_a_suspended_organization_cannot_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = create_organization(&app, &admin, "acme").await;
    let (ann_id, _) = user(&app, "ann@example.com").await;
    add(&app, &admin, &acme, &ann_id, "member").await;
    let suspend = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme}"),
        &admin,
        Some(json!({"status": "suspended"})),
    )
    .await;
    assert_eq!(suspend.status(), 200);

    let wrong = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": "not her password"}),
        )
        .await;
    problem(wrong, 401).await;
    let right = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    let right = problem(right, 403).await;
    assert_eq!(right["type"], "urn:idlog:problem:organization-suspended");
    assert!(
        right["detail"]
            .as_str()
            .expect("detail")
            .contains("suspended")
    );

    let testing = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme}"),
        &admin,
        Some(json!({"status": "testing"})),
    )
    .await;
    assert_eq!(testing.status(), 200);
    app.login("ann@example.com", PASSWORD).await;
}

test_both_backends!(
    members_and_org_admins_manage_only_their_organization,
    an_org_admin_creates_users_in_their_organization,
    members_of_a_suspended_organization_cannot_log_in,
);
