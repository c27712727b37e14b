//! Read-model queries over real HTTP, on SQLite and PostgreSQL: listing and search, scopes,
//! sessions, activity exports, analytics, readiness and metrics.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// What these tests ask of a test server besides [`TestApp`]'s own helpers.
trait Reader {
    /// `GET path` with `token`, answered 200; its JSON.
    async fn read(&self, path: &str, token: &str) -> Value;
    /// Registers and logs in `email`; returns the user id and access token.
    async fn member(&self, email: &str) -> (String, String);
    /// Everything appended so far applied by every read model.
    async fn caught_up(&self) -> u64;
}

impl Reader for TestApp {
    async fn read(&self, path: &str, token: &str) -> Value {
        let response = self
            .send(reqwest::Method::GET, path, token, None, &[])
            .await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    async fn member(&self, email: &str) -> (String, String) {
        let id = self.register(email, PASSWORD).await;
        let token = self.login(email, PASSWORD).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        (id, token)
    }

    async fn caught_up(&self) -> u64 {
        self.quiet().await;
        let head = self.head_position().await;
        assert!(
            self.projector
                .wait_for(head, &[], std::time::Duration::from_secs(20))
                .await
                .expect("waited")
        );
        head
    }
}

fn ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|user| user["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

async fn administrators_list_and_search_users_reading_their_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_id, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let bob = app.register("bob@example.com", PASSWORD).await;
    // A command's position, then a query that waits for it: the write is visible at once.
    let response = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{bob}/lock"),
            &admin,
            Some(json!({"reason": "audit"})),
            &[],
        )
        .await;
    assert_eq!(response.status(), 200);
    let position = response.headers()["x-log-position"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let locked = app
        .send(
            reqwest::Method::GET,
            "/api/v1/users?status=locked",
            &admin,
            None,
            &[("x-min-position", position.as_str())],
        )
        .await;
    assert_eq!(locked.status(), 200);
    let locked: Value = locked.json().await.expect("json");
    assert_eq!(ids(&locked), vec![bob.clone()]);
    assert_eq!(locked["items"][0]["status"], "locked");
    assert_eq!(locked["total"], 1);

    let all = app
        .read(&format!("/api/v1/users?min_position={position}"), &admin)
        .await;
    assert_eq!(all["total"], 3);
    let mut expected = vec![admin_id.clone(), ann.clone(), bob.clone()];
    expected.sort();
    assert_eq!(ids(&all), expected);
    let admins = app.read("/api/v1/users?role=admin", &admin).await;
    assert_eq!(ids(&admins), vec![admin_id]);
    assert_eq!(admins["items"][0]["roles"], json!(["admin"]));

    let search = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users/search",
            &admin,
            Some(json!({"q": "ANN@", "status": "active"})),
            &[],
        )
        .await;
    assert_eq!(search.status(), 200);
    assert_eq!(ids(&search.json().await.expect("json")), vec![ann.clone()]);

    // Keyset pages by email, ascending.
    let first = app
        .read("/api/v1/users?sort=email&order=asc&limit=2", &admin)
        .await;
    let emails: Vec<&str> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].as_str().expect("email"))
        .collect();
    assert_eq!(emails, vec!["ann@example.com", "bob@example.com"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .read(
            &format!("/api/v1/users?sort=email&order=asc&limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(second["items"][0]["email"], "root@example.com");
    assert!(second["next_cursor"].is_null());

    // Search by field: exact values, read as idlog stores them.
    let patched = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{bob}"),
            &admin,
            Some(json!({"username": "Bobby", "phone": "+1 415 555 0123"})),
            &[],
        )
        .await;
    assert_eq!(patched.status(), 200);
    let position = patched.headers()["x-log-position"]
        .to_str()
        .expect("position")
        .to_owned();
    for (query, expected) in [
        ("email=ANN%40Example.com", vec![ann.clone()]),
        ("email=ann%40example.org", vec![]),
        ("username=bobby", vec![bob.clone()]),
        ("phone=%2B1%20(415)%20555-0123", vec![bob.clone()]),
        ("phone=%2B14155550123&status=locked", vec![bob.clone()]),
        ("phone=%2B14155550123&status=inactive", vec![]),
        ("username=bobby&email=ann%40example.com", vec![]),
    ] {
        let found = app
            .read(
                &format!("/api/v1/users?{query}&min_position={position}"),
                &admin,
            )
            .await;
        assert_eq!(ids(&found), expected, "{query}");
    }

    // Bad input is a problem, never a guess.
    for path in [
        "/api/v1/users?email=not-an-address",
        "/api/v1/users?phone=12",
        "/api/v1/users?username=a%20b",
        "/api/v1/users?cursor=nonsense",
        "/api/v1/users?status=sleeping",
        "/api/v1/users?colour=blue",
        "/api/v1/users?limit=-1",
    ] {
        let response = app
            .send(reqwest::Method::GET, path, &admin, None, &[])
            .await;
        problem(response, 400).await;
    }
    let bad_header = app
        .send(
            reqwest::Method::GET,
            "/api/v1/users",
            &admin,
            None,
            &[("x-min-position", "soon")],
        )
        .await;
    problem(bad_header, 400).await;
    // A position beyond the log's head was never answered with: refused at once.
    let ahead = app
        .send(
            reqwest::Method::GET,
            "/api/v1/users?min_position=1000000",
            &admin,
            None,
            &[],
        )
        .await;
    let body = problem(ahead, 400).await;
    assert_eq!(body["type"], "urn:idlog:problem:invalid-min-position");
}

async fn readers_see_what_their_roles_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let (ann, ann_token) = app.member("ann@example.com").await;
    let (bob, _) = app.member("bob@example.com").await;
    let (carl, _) = app.member("carl@example.com").await;
    app.caught_up().await;

    // A plain user reads none of the lists, but their own sessions and activity.
    for path in [
        "/api/v1/users",
        "/api/v1/activity",
        "/api/v1/analytics/dashboard",
        "/api/v1/analytics/verification-funnel",
        "/api/v1/organizations",
    ] {
        let response = app
            .send(reqwest::Method::GET, path, &ann_token, None, &[])
            .await;
        problem(response, 403).await;
    }
    let own = app
        .read(&format!("/api/v1/users/{ann}/sessions"), &ann_token)
        .await;
    assert_eq!(own.as_array().expect("sessions").len(), 1);
    assert_eq!(own[0]["status"], "active");
    let own = app
        .read(&format!("/api/v1/users/{ann}/activity"), &ann_token)
        .await;
    assert!(!own["items"].as_array().expect("items").is_empty());
    let other = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{bob}/sessions"),
            &ann_token,
            None,
            &[],
        )
        .await;
    problem(other, 404).await;

    // An analyst reads everything.
    let granted = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann}"),
            &admin,
            Some(json!({"roles": ["user", "analyst"]})),
            &[],
        )
        .await;
    assert_eq!(granted.status(), 200);
    let analyst = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.caught_up().await;
    assert_eq!(app.read("/api/v1/users", &analyst).await["total"], 4);
    app.read("/api/v1/analytics/dashboard", &analyst).await;

    // An org_admin reads their organization and its members only.
    let created = app
        .send(
            reqwest::Method::POST,
            "/api/v1/organizations",
            &admin,
            Some(json!({"name": "rowing"})),
            &[],
        )
        .await;
    assert_eq!(created.status(), 201);
    let rowing = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let other_org = app
        .send(
            reqwest::Method::POST,
            "/api/v1/organizations",
            &admin,
            Some(json!({"name": "sailing"})),
            &[],
        )
        .await;
    let sailing = other_org.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for (user, role) in [(&bob, "org_admin"), (&carl, "member")] {
        let added = app
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{rowing}/members"),
                &admin,
                Some(json!({"user_id": user, "role": role})),
                &[],
            )
            .await;
        assert_eq!(added.status(), 201);
    }
    let boss = app.login("bob@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.caught_up().await;
    let mut members = vec![bob.clone(), carl.clone()];
    members.sort();
    assert_eq!(ids(&app.read("/api/v1/users", &boss).await), members);
    let organizations = app.read("/api/v1/organizations", &boss).await;
    assert_eq!(organizations.as_array().expect("list").len(), 1);
    assert_eq!(organizations[0]["name"], "rowing");
    assert_eq!(organizations[0]["member_count"], 2);
    let listed = app
        .read(&format!("/api/v1/organizations/{rowing}/members"), &boss)
        .await;
    assert_eq!(listed.as_array().expect("members").len(), 2);
    app.read(&format!("/api/v1/analytics/organizations/{rowing}"), &boss)
        .await;
    for (path, status) in [
        (format!("/api/v1/analytics/organizations/{sailing}"), 404),
        (format!("/api/v1/organizations/{sailing}/members"), 404),
        (format!("/api/v1/users/{ann}/sessions"), 404),
        // A member's sessions and activity are theirs and the administrators'.
        (format!("/api/v1/users/{carl}/sessions"), 403),
        (format!("/api/v1/users/{carl}/activity"), 403),
        ("/api/v1/analytics/dashboard".to_owned(), 403),
    ] {
        let response = app
            .send(reqwest::Method::GET, &path, &boss, None, &[])
            .await;
        problem(response, status).await;
    }
    // The activity log holds members' own records: not an org_admin's to read.
    let activity = app
        .send(reqwest::Method::GET, "/api/v1/activity", &boss, None, &[])
        .await;
    problem(activity, 403).await;
}

async fn activity_exports_stream_every_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    for n in 0..5 {
        app.register(&format!("user{n}@example.com"), PASSWORD)
            .await;
    }
    let head = app.caught_up().await;
    let ndjson = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/activity?format=ndjson&min_position={head}"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(ndjson.status(), 200);
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.expect("body");
    let rows: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len() as u64, head, "one row per event");
    assert!(
        rows.windows(2)
            .all(|w| w[0]["position"].as_i64() > w[1]["position"].as_i64())
    );
    assert!(
        !text.contains("password_hash") && !text.contains("token_hash"),
        "no secrets in the activity log"
    );
    let csv = app
        .send(
            reqwest::Method::GET,
            "/api/v1/activity?format=csv&action=UserRegistered",
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    let text = csv.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("position,event_id,at,actor_id"));
    assert_eq!(lines.len(), 1 + 5, "a header and the five registrations");
    let page = app
        .read("/api/v1/activity?action=UserRegistered&limit=2", &admin)
        .await;
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    let cursor = page["next_cursor"].as_str().expect("more");
    let rest = app
        .read(
            &format!("/api/v1/activity?action=UserRegistered&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(rest["items"].as_array().expect("items").len(), 3);
    let bad = app
        .send(
            reqwest::Method::GET,
            "/api/v1/activity?format=xml",
            &admin,
            None,
            &[],
        )
        .await;
    problem(bad, 400).await;
}

async fn analytics_count_logins_and_verifications(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    app.member("ann@example.com").await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ann@example.com", "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    app.caught_up().await;
    let dashboard = app.read("/api/v1/analytics/dashboard?days=7", &admin).await;
    assert_eq!(dashboard["window"]["registrations"], 2);
    assert_eq!(dashboard["window"]["logins"], 2);
    assert_eq!(dashboard["window"]["failed_logins"], 1);
    assert_eq!(dashboard["users_by_role"]["admin"], 1);
    assert_eq!(dashboard["users_by_status"]["active"], 2);
    assert!(dashboard["daily_active_users"].as_i64().expect("dau") >= 1);
    let series = app
        .read("/api/v1/analytics/daily?metric=failed_logins", &admin)
        .await;
    let series = series.as_array().expect("series");
    assert_eq!(series.len(), 30);
    assert_eq!(series[29]["value"], 1);
    let funnel = app
        .read("/api/v1/analytics/verification-funnel", &admin)
        .await;
    assert_eq!(funnel["registered"], 2);
    assert_eq!(funnel["email_verified"], 0);
    for path in [
        "/api/v1/analytics/daily?metric=happiness",
        "/api/v1/analytics/dashboard?days=0",
        "/api/v1/analytics/daily?metric=logins&from=2026-02-01&to=2026-01-01",
    ] {
        let response = app
            .send(reqwest::Method::GET, path, &admin, None, &[])
            .await;
        problem(response, 400).await;
    }
}

async fn readiness_and_metrics_report_the_read_models(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    app.caught_up().await;
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    let names: Vec<&str> = ready["projections"]
        .as_array()
        .expect("projections")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        vec![
            "directory",
            "sessions",
            "activity",
            "analytics",
            "devices",
            "partners"
        ]
    );
    app.read("/api/v1/users", &admin).await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("idlog_logins_total{outcome=\"success\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("idlog_projection_lag_events{projection=\"directory\"} 0"));
    assert!(
        metrics.contains("idlog_worker_dead_letters{worker=\"storage\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("idlog_worker_lag_events{worker=\"storage\"}"));
    assert!(metrics.contains(
        "idlog_http_requests_total{method=\"GET\",route=\"/api/v1/users\",status=\"200\"} 1"
    ));
    assert!(metrics.contains("idlog_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"POST\",route=\"/api/v1/auth/login\"} 1"));
}

/// `/metrics` behind a credential, or on a listener of its own.
async fn metrics_take_a_credential_or_a_listener_of_their_own(backend: Backend) {
    let mut options = Options::default();
    options.metrics.credential_hash = Some(commands::tokens::hash_token("scrape me"));
    let app = spawn_app_with(backend, options).await;
    let url = app.url("/metrics");
    problem(app.client.get(&url).send().await.expect("request"), 401).await;
    let scraped = app
        .client
        .get(&url)
        .bearer_auth("scrape me")
        .send()
        .await
        .expect("request");
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped
            .text()
            .await
            .expect("text")
            .contains("# TYPE idlog_http_requests counter")
    );

    let mut options = Options::default();
    options.metrics.separate_listener = true;
    let app = spawn_app_with(backend, options).await;
    problem(
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("request"),
        404,
    )
    .await;
    let listener =
        api::Application::metrics("127.0.0.1:0".parse().expect("address"), app.state.clone())
            .await
            .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(listener.run(std::future::pending()));
    let scraped = app
        .client
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(scraped.status(), 200);
}

/// Deleting or forgetting a user ends their memberships: in the organization's stream, its
/// member list and count, and its dashboard.
async fn deleting_or_forgetting_a_user_ends_their_memberships(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let (bob, _) = app.member("bob@example.com").await;
    let (carl, _) = app.member("carl@example.com").await;
    let (dan, _) = app.member("dan@example.com").await;
    let created = app
        .send(
            reqwest::Method::POST,
            "/api/v1/organizations",
            &admin,
            Some(json!({"name": "rowing"})),
            &[],
        )
        .await;
    assert_eq!(created.status(), 201);
    let rowing = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for user in [&bob, &carl, &dan] {
        let added = app
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{rowing}/members"),
                &admin,
                Some(json!({"user_id": user, "role": "member"})),
                &[],
            )
            .await;
        assert_eq!(added.status(), 201);
    }
    app.caught_up().await;
    let dashboard = app
        .read(&format!("/api/v1/analytics/organizations/{rowing}"), &admin)
        .await;
    assert_eq!(dashboard["users_by_status"]["active"], 3, "{dashboard}");

    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{carl}"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status(), 200);
    let forgotten = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{dan}/forget"),
            &admin,
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(forgotten.status(), 200);
    app.caught_up().await;

    let removed = app.events_of_type("MemberRemoved").await;
    let mut removed_users: Vec<String> = removed
        .iter()
        .map(|event| {
            assert_eq!(event.stream_id, rowing);
            assert_eq!(
                event.metadata["actor"]["kind"], "admin",
                "{}",
                event.metadata
            );
            event.payload["user_id"].as_str().expect("user").to_owned()
        })
        .collect();
    removed_users.sort();
    let mut expected = vec![carl.clone(), dan.clone()];
    expected.sort();
    assert_eq!(removed_users, expected);
    let organization = app
        .read(&format!("/api/v1/organizations/{rowing}"), &admin)
        .await;
    assert_eq!(
        organization["members"].as_array().expect("members").len(),
        1
    );
    assert_eq!(organization["members"][0]["user_id"], bob.as_str());
    let listed = app
        .read(&format!("/api/v1/organizations/{rowing}/members"), &admin)
        .await;
    assert_eq!(listed.as_array().expect("members").len(), 1);
    assert_eq!(listed[0]["user_id"], bob.as_str());
    let organizations = app.read("/api/v1/organizations", &admin).await;
    assert_eq!(organizations[0]["member_count"], 1);
    let dashboard = app
        .read(&format!("/api/v1/analytics/organizations/{rowing}"), &admin)
        .await;
    assert_eq!(dashboard["users_by_status"]["active"], 1, "{dashboard}");
    assert_eq!(
        dashboard["users_by_status"].get("deleted"),
        None,
        "{dashboard}"
    );
    assert_eq!(
        dashboard["users_by_status"].get("forgotten"),
        None,
        "{dashboard}"
    );
}

test_both_backends!(
    deleting_or_forgetting_a_user_ends_their_memberships,
    metrics_take_a_credential_or_a_listener_of_their_own,
    administrators_list_and_search_users_reading_their_writes,
    readers_see_what_their_roles_allow,
    activity_exports_stream_every_row,
    analytics_count_logins_and_verifications,
    readiness_and_metrics_report_the_read_models,
);
