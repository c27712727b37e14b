//! Organization API keys over real HTTP, on SQLite and PostgreSQL: created by org_admins and
//! shown once, acting with their flags in their organization only, recorded on every use, and
//! refused once revoked, expired, out of the catalog or of an organization out of service.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{TestApp, spawn_app};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// acme, its org_admin, a member, and another organization.
struct Partners {
    app: TestApp,
    admin: String,
    acme: String,
    boss: String,
    member: String,
    globex: String,
}

async fn token(app: &TestApp, email: &str) -> String {
    app.login(email, PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    app.send(method, path, token, body, &[]).await
}

async fn partners(backend: Backend) -> Partners {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let mut organizations = Vec::new();
    for name in ["acme", "globex"] {
        let created = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/organizations",
            &admin,
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(created.status(), 201);
        let body: Value = created.json().await.expect("json");
        organizations.push(body["id"].as_str().expect("id").to_owned());
    }
    let acme = organizations[0].clone();
    for (email, role) in [
        ("boss@example.com", "org_admin"),
        ("member@example.com", "member"),
    ] {
        let id = app.register(email, PASSWORD).await;
        let added = send(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/organizations/{acme}/members"),
            &admin,
            Some(json!({"user_id": id, "role": role})),
        )
        .await;
        assert_eq!(added.status(), 201);
    }
    Partners {
        boss: token(&app, "boss@example.com").await,
        member: token(&app, "member@example.com").await,
        app,
        admin,
        acme,
        globex: organizations[1].clone(),
    }
}

impl Partners {
    /// Creates a key of acme as its org_admin; answers the 201 body.
    async fn create_key(&self, body: Value) -> Value {
        let created = send(
            &self.app,
            reqwest::Method::POST,
            &format!("/api/v1/organizations/{}/api-keys", self.acme),
            &self.boss,
            Some(body),
        )
        .await;
        assert_eq!(created.status(), 201);
        assert_eq!(created.headers()["cache-control"], "no-store");
        created.json().await.expect("json")
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.app.get_with_token(path, token).await
    }
}

async fn a_key_acts_with_its_flags_in_its_organization_only(backend: Backend) {
    let world = partners(backend).await;
    let issued = world
        .create_key(json!({
            "name": "nightly import",
            "permissions": ["can_view_reports"],
            "expires_at": "2999-01-01T00:00:00Z"
        }))
        .await;
    let key = issued["token"].as_str().expect("token").to_owned();
    assert!(key.starts_with("idlog_key_"), "{key}");
    assert_eq!(issued["key"]["status"], "active");
    assert_eq!(issued["key"]["permissions"], json!(["can_view_reports"]));

    // Shown once: the list never holds the secret.
    let listed = world
        .get(
            &format!("/api/v1/organizations/{}/api-keys", world.acme),
            &world.boss,
        )
        .await;
    assert_eq!(listed.status(), 200);
    let text = listed.text().await.expect("text");
    assert!(!text.contains(&key[key.len() - 20..]), "{text}");
    assert!(text.contains("nightly import"));

    // can_view_reports opens acme's figures; nothing else.
    let dashboard = format!("/api/v1/analytics/organizations/{}", world.acme);
    assert_eq!(world.get(&dashboard, &key).await.status(), 200);
    let details = send(
        &world.app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{}", world.acme),
        &key,
        Some(json!({"display_name": "ACME"})),
    )
    .await;
    let refused = problem(details, 403).await;
    assert!(
        refused["type"]
            .as_str()
            .expect("type")
            .ends_with("forbidden")
    );
    // With can_manage_settings it edits the details, and is not shown the members.
    let settings = world
        .create_key(json!({"name": "settings", "permissions": ["can_manage_settings"]}))
        .await;
    let settings = settings["token"].as_str().expect("token").to_owned();
    let edited = send(
        &world.app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{}", world.acme),
        &settings,
        Some(json!({"display_name": "ACME"})),
    )
    .await;
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.expect("json");
    assert_eq!(edited["display_name"], "ACME");
    assert!(edited.get("members").is_none(), "{edited}");
    let other = format!("/api/v1/analytics/organizations/{}", world.globex);
    problem(world.get(&other, &key).await, 404).await;
    let people = problem(world.get("/api/v1/users", &key).await, 403).await;
    assert!(
        people["type"]
            .as_str()
            .expect("type")
            .ends_with("api-key-not-accepted"),
        "{people}"
    );

    // Every use is in the log, under the key, with its organization.
    let head = world.app.head_position().await;
    let activity: Value = world
        .get(
            &format!(
                "/api/v1/activity?action=ApiKeyUsed&organization={}&resource={}&min_position={head}",
                world.acme,
                issued["key"]["id"].as_str().expect("id")
            ),
            &world.admin,
        )
        .await
        .json()
        .await
        .expect("json");
    let rows = activity["items"].as_array().expect("items");
    assert_eq!(rows.len(), 4, "{activity}");
    let key_id = issued["key"]["id"].as_str().expect("id");
    for row in rows {
        assert_eq!(row["actor_id"], format!("api-key:{key_id}"));
        assert_eq!(row["actor_kind"], "service");
        assert_eq!(row["resource_id"], key_id);
    }
    let paths: Vec<&str> = rows
        .iter()
        .filter_map(|row| row["details"]["path"].as_str())
        .collect();
    assert!(paths.contains(&"/api/v1/users"), "{paths:?}");
    // The route's template: no id the client put in the path.
    assert!(
        paths.contains(&"/api/v1/analytics/organizations/{id}"),
        "{paths:?}"
    );
}

async fn a_revoked_expired_or_out_of_service_key_authenticates_nothing(backend: Backend) {
    let world = partners(backend).await;
    let dashboard = format!("/api/v1/analytics/organizations/{}", world.acme);
    let issued = world
        .create_key(json!({"name": "short lived", "permissions": ["can_view_reports"]}))
        .await;
    let key = issued["token"].as_str().expect("token").to_owned();
    let key_id = issued["key"]["id"].as_str().expect("id").to_owned();
    assert_eq!(world.get(&dashboard, &key).await.status(), 200);

    // A tampered secret, or another key's id with this secret: refused alike.
    let tampered = format!("{}A", &key[..key.len() - 1]);
    problem(world.get(&dashboard, &tampered).await, 401).await;

    // The organization suspended: its keys stop; back in service, they work again.
    for (status, expected) in [("suspended", 401), ("active", 200)] {
        let changed = send(
            &world.app,
            reqwest::Method::PATCH,
            &format!("/api/v1/organizations/{}", world.acme),
            &world.admin,
            Some(json!({"status": status})),
        )
        .await;
        assert_eq!(changed.status(), 200);
        assert_eq!(world.get(&dashboard, &key).await.status(), expected);
    }

    // Its flag retired from the catalog: the key stays, and grants nothing.
    let retired = send(
        &world.app,
        reqwest::Method::DELETE,
        "/api/v1/permissions/can_view_reports",
        &world.admin,
        None,
    )
    .await;
    assert_eq!(retired.status(), 204);
    problem(world.get(&dashboard, &key).await, 403).await;
    let defined = send(
        &world.app,
        reqwest::Method::POST,
        "/api/v1/permissions",
        &world.admin,
        Some(json!({"name": "can_view_reports"})),
    )
    .await;
    assert_eq!(defined.status(), 201);
    assert_eq!(world.get(&dashboard, &key).await.status(), 200);

    // Revoked: refused at once; revoking again is no error.
    let path = format!("/api/v1/organizations/{}/api-keys/{key_id}", world.acme);
    for _ in 0..2 {
        let revoked = send(
            &world.app,
            reqwest::Method::DELETE,
            &path,
            &world.boss,
            None,
        )
        .await;
        assert_eq!(revoked.status(), 204);
    }
    problem(world.get(&dashboard, &key).await, 401).await;
    let listed: Value = world
        .get(
            &format!("/api/v1/organizations/{}/api-keys", world.acme),
            &world.boss,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["status"], "revoked");

    // One that expires works until then, and not after.
    let expiry = chrono::Utc::now() + chrono::TimeDelta::seconds(2);
    let brief = world
        .create_key(json!({
            "name": "brief",
            "permissions": ["can_view_reports"],
            "expires_at": expiry.to_rfc3339()
        }))
        .await;
    let brief = brief["token"].as_str().expect("token").to_owned();
    assert_eq!(world.get(&dashboard, &brief).await.status(), 200);
    let wait = (expiry - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(50)).await;
    problem(world.get(&dashboard, &brief).await, 401).await;

    // Its name is free again; an expiry must be in the future.
    world
        .create_key(json!({"name": "short lived", "permissions": ["can_view_reports"]}))
        .await;
    let past = send(
        &world.app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{}/api-keys", world.acme),
        &world.boss,
        Some(json!({"name": "late", "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await;
    let body = problem(past, 422).await;
    assert_eq!(body["errors"][0]["pointer"], "/expires_at");
}

async fn only_org_admins_and_administrators_manage_keys_from_the_catalog(backend: Backend) {
    let world = partners(backend).await;
    let path = format!("/api/v1/organizations/{}/api-keys", world.acme);
    let member = send(
        &world.app,
        reqwest::Method::POST,
        &path,
        &world.member,
        Some(json!({"name": "mine"})),
    )
    .await;
    problem(member, 403).await;
    let elsewhere = send(
        &world.app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{}/api-keys", world.globex),
        &world.boss,
        Some(json!({"name": "theirs"})),
    )
    .await;
    problem(elsewhere, 404).await;
    let unknown = send(
        &world.app,
        reqwest::Method::POST,
        &path,
        &world.boss,
        Some(json!({"name": "typo", "permissions": ["can_fly"]})),
    )
    .await;
    let body = problem(unknown, 422).await;
    assert_eq!(body["errors"][0]["pointer"], "/permissions");
    let by_admin = send(
        &world.app,
        reqwest::Method::POST,
        &path,
        &world.admin,
        Some(json!({"name": "from staff"})),
    )
    .await;
    assert_eq!(by_admin.status(), 201);
    let taken = send(
        &world.app,
        reqwest::Method::POST,
        &path,
        &world.boss,
        Some(json!({"name": "from staff"})),
    )
    .await;
    let body = problem(taken, 409).await;
    assert!(
        body["type"]
            .as_str()
            .expect("type")
            .ends_with("api-key-name-taken")
    );
    // A key's creation is in the log without its secret's hash.
    let created = world.app.events_of_type("ApiKeyCreated").await;
    assert_eq!(created.len(), 1, "{created:?}");
    let head = world.app.head_position().await;
    let activity: Value = world
        .get(
            &format!("/api/v1/activity?action=ApiKeyCreated&min_position={head}"),
            &world.admin,
        )
        .await
        .json()
        .await
        .expect("json");
    let details = &activity["items"][0]["details"];
    assert_eq!(details["name"], "from staff");
    assert!(details.get("token_hash").is_none(), "{details}");
}

test_both_backends!(
    a_key_acts_with_its_flags_in_its_organization_only,
    a_revoked_expired_or_out_of_service_key_authenticates_nothing,
    only_org_admins_and_administrators_manage_keys_from_the_catalog,
);
