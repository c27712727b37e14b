//! The role catalog in the log: administrators define, change and retire roles with profile
//! fields; a holder's role profile is checked against them, shown with the user, and filters
//! the users list and the list of a role's holders. A privileged role shields its holders from
//! organization administrators.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{TestApp, spawn_app};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

fn student() -> Value {
    json!({
        "name": "student",
        "fields": [
            {"name": "student_id", "type": "text", "required": true},
            {"name": "department", "type": "text", "required": true, "allowed": ["physics", "chemistry"]},
            {"name": "year", "type": "integer"},
        ],
    })
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

/// `GET path` once the read models have applied `position`.
async fn list(app: &TestApp, path: &str, token: &str, position: &str) -> Value {
    let separator = if path.contains('?') { '&' } else { '?' };
    let answer = app
        .get_with_token(&format!("{path}{separator}min_position={position}"), token)
        .await;
    assert_eq!(answer.status(), 200, "{path}");
    answer.json().await.expect("json")
}

fn emails(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|user| user["email"].as_str())
        .collect()
}

fn position(answer: &reqwest::Response) -> String {
    answer.headers()["x-log-position"]
        .to_str()
        .expect("position")
        .to_owned()
}

async fn administrators_define_change_and_retire_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let catalog: Value = app
        .get_with_token("/api/v1/roles", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(catalog["source"], "configuration");
    assert_eq!(catalog["roles"].as_array().map(Vec::len), Some(4));
    assert_eq!(catalog["roles"][0]["name"], "admin");
    assert_eq!(catalog["roles"][0]["privileged"], true);
    assert_eq!(catalog["roles"][0]["built_in"], true);

    let defined = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(student()),
    )
    .await;
    assert_eq!(defined.status(), 201);
    let defined: Value = defined.json().await.expect("json");
    assert_eq!(defined["status"], "active");
    assert_eq!(
        defined["fields"][1]["allowed"],
        json!(["physics", "chemistry"])
    );
    let again = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(student()),
    )
    .await;
    assert_eq!(
        problem(again, 409).await["type"],
        "urn:idlog:problem:role-defined"
    );
    let twice = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "staff", "fields": [
            {"name": "position", "type": "text"},
            {"name": "position", "type": "date"},
        ]})),
    )
    .await;
    assert_eq!(problem(twice, 422).await["errors"][0]["pointer"], "/fields");
    let boolean_values = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "staff", "fields": [
            {"name": "tenured", "type": "boolean", "allowed": ["yes"]},
        ]})),
    )
    .await;
    problem(boolean_values, 422).await;
    let unnamed = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "no spaces"})),
    )
    .await;
    assert_eq!(problem(unnamed, 422).await["errors"][0]["pointer"], "/name");

    // The catalog is the log's now.
    let catalog: Value = app
        .get_with_token("/api/v1/roles", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(catalog["source"], "log");
    let changed = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/roles/student",
        &admin,
        Some(json!({"privileged": true, "fields": [
            {"name": "student_id", "type": "text", "required": true},
        ]})),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.expect("json");
    assert_eq!(changed["privileged"], true);
    assert_eq!(changed["fields"].as_array().map(Vec::len), Some(1));
    let unprivileged_admin = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/roles/admin",
        &admin,
        Some(json!({"privileged": false})),
    )
    .await;
    assert_eq!(
        problem(unprivileged_admin, 409).await["type"],
        "urn:idlog:problem:role-built-in"
    );
    let unknown = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/roles/wizard",
        &admin,
        Some(json!({})),
    )
    .await;
    problem(unknown, 404).await;

    // A holder keeps a retired role; nobody is granted it any more.
    let holder = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/users",
        &admin,
        Some(json!({"email": "sam@example.com", "roles": ["student"]})),
    )
    .await;
    assert_eq!(holder.status(), 201);
    let holder: Value = holder.json().await.expect("json");
    problem(
        send(
            &app,
            reqwest::Method::DELETE,
            "/api/v1/roles/user",
            &admin,
            None,
        )
        .await,
        409,
    )
    .await;
    let retired = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/roles/student",
        &admin,
        None,
    )
    .await;
    assert_eq!(retired.status(), 204);
    let refused = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/users",
        &admin,
        Some(json!({"email": "tia@example.com", "roles": ["student"]})),
    )
    .await;
    let refused = problem(refused, 422).await;
    assert_eq!(refused["errors"][0]["pointer"], "/roles");
    assert_eq!(
        refused["errors"][0]["detail"],
        "student: unknown; one of admin, analyst, auditor, user"
    );
    // Saving the holder's roles as they are keeps the retired one.
    let kept = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{}", holder["id"].as_str().expect("id")),
        &admin,
        Some(json!({"roles": ["student", "analyst"]})),
    )
    .await;
    assert_eq!(kept.status(), 200);
    let kept: Value = kept.json().await.expect("json");
    assert_eq!(kept["roles"], json!(["analyst", "student"]));
    let catalog: Value = app
        .get_with_token("/api/v1/roles", &admin)
        .await
        .json()
        .await
        .expect("json");
    let last = catalog["roles"].as_array().and_then(|roles| roles.last());
    assert_eq!(last.map(|role| &role["name"]), Some(&json!("student")));
    assert_eq!(last.map(|role| &role["status"]), Some(&json!("retired")));
    // Defining it again brings it back.
    let back = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(student()),
    )
    .await;
    assert_eq!(back.status(), 201);
}

test_both_backends!(administrators_define_change_and_retire_roles);

async fn role_profiles_are_checked_shown_and_filter_the_users_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let defined = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(student()),
    )
    .await;
    assert_eq!(defined.status(), 201);
    let mut ids = Vec::new();
    for email in ["pia@example.com", "cal@example.com", "max@example.com"] {
        let created: Value = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": email, "roles": ["student", "user"], "password": PASSWORD})),
        )
        .await
        .json()
        .await
        .expect("json");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    let profile = |id: &str| format!("/api/v1/users/{id}/role-profiles/student");

    let misfit = send(
        &app,
        reqwest::Method::PUT,
        &profile(&ids[0]),
        &admin,
        Some(json!({"department": "music", "year": "two", "club": "chess"})),
    )
    .await;
    let misfit = problem(misfit, 422).await;
    let pointers: Vec<&str> = misfit["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|error| error["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        [
            "/profile/club",
            "/profile/student_id",
            "/profile/department",
            "/profile/year"
        ]
    );
    let not_held = send(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/users/{}/role-profiles/analyst", ids[0]),
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        problem(not_held, 409).await["type"],
        "urn:idlog:problem:role-not-held"
    );

    let mut last = String::new();
    for (id, department, year) in [
        (&ids[0], "physics", 1),
        (&ids[1], "chemistry", 2),
        (&ids[2], "physics", 3),
    ] {
        let set = send(
            &app,
            reqwest::Method::PUT,
            &profile(id),
            &admin,
            Some(json!({"student_id": format!(" S-{year} "), "department": department, "year": year})),
        )
        .await;
        assert_eq!(set.status(), 200);
        last = position(&set);
        let shown: Value = set.json().await.expect("json");
        assert_eq!(
            shown["role_profiles"]["student"],
            json!({"student_id": format!("S-{year}"), "department": department, "year": year})
        );
    }
    // Shown with the user, to the user too.
    let pia = app.login("pia@example.com", PASSWORD).await;
    let me: Value = app
        .get_with_token(
            "/api/v1/auth/me",
            pia["access_token"].as_str().expect("token"),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["user"]["role_profiles"]["student"]["department"],
        "physics"
    );

    let physics = list(
        &app,
        "/api/v1/users?role=student&department=physics",
        &admin,
        &last,
    )
    .await;
    assert_eq!(emails(&physics), ["max@example.com", "pia@example.com"]);
    assert_eq!(physics["items"][0]["role_profiles"]["student"]["year"], 3);
    let second_year = list(
        &app,
        "/api/v1/roles/student/users?department=chemistry&year=2",
        &admin,
        &last,
    )
    .await;
    assert_eq!(emails(&second_year), ["cal@example.com"]);
    let holders = list(&app, "/api/v1/roles/student/users", &admin, &last).await;
    assert_eq!(holders["total"], 3);
    // `profile.` names a field whatever its name.
    let prefixed = list(
        &app,
        "/api/v1/users?role=student&profile.department=chemistry",
        &admin,
        &last,
    )
    .await;
    assert_eq!(emails(&prefixed), ["cal@example.com"]);
    // A role the catalog does not have has no profile.
    let unknown = send(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/users/{}/role-profiles/wizard", ids[0]),
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        problem(unknown, 404).await["type"],
        "urn:idlog:problem:role-not-found"
    );
    let searched: Value = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/users/search",
        &admin,
        Some(json!({"role": "student", "profile": {"department": "chemistry"}, "min_position": last.parse::<u64>().expect("position")})),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(emails(&searched), ["cal@example.com"]);
    // A field the role does not declare, or a profile filter without a role, is a clear 400.
    for wrong in [
        "/api/v1/users?role=student&departmnet=physics",
        "/api/v1/users?department=physics",
        "/api/v1/roles/student/users?role=user",
    ] {
        let answer = app.get_with_token(wrong, &admin).await;
        assert_eq!(
            problem(answer, 400).await["type"],
            "urn:idlog:problem:invalid-query",
            "{wrong}"
        );
    }

    // Revoking the role drops its profile, from the user and from the list.
    let revoked = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{}", ids[2]),
        &admin,
        Some(json!({"roles": ["user"]})),
    )
    .await;
    assert_eq!(revoked.status(), 200);
    let revoked_at = position(&revoked);
    let revoked: Value = revoked.json().await.expect("json");
    assert!(revoked.get("role_profiles").is_none(), "{revoked}");
    let physics = list(
        &app,
        "/api/v1/users?role=student&department=physics",
        &admin,
        &revoked_at,
    )
    .await;
    assert_eq!(emails(&physics), ["pia@example.com"]);

    // Forgetting Pia erases her profile: from her events, and from the list and its filter.
    let forgotten = send(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/users/{}/forget", ids[0]),
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!(forgotten.status(), 200);
    let forgotten_at = position(&forgotten);
    let physics = list(
        &app,
        "/api/v1/users?role=student&department=physics&status=forgotten",
        &admin,
        &forgotten_at,
    )
    .await;
    assert_eq!(physics["total"], 0);
    let history: Value = app
        .get_with_token(&format!("/api/v1/users/{}/history", ids[0]), &admin)
        .await
        .json()
        .await
        .expect("json");
    let set = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|event| event["event_type"] == "RoleProfileSet")
        .expect("the profile's event stays");
    assert!(!set.to_string().contains("physics"), "erased: {set}");
}

test_both_backends!(role_profiles_are_checked_shown_and_filter_the_users_list);

async fn role_profiles_are_for_the_person_and_readers_not_organization_administrators(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let defined = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(student()),
    )
    .await;
    assert_eq!(defined.status(), 201);
    let organization: Value = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/organizations",
        &admin,
        Some(json!({"name": "Campus"})),
    )
    .await
    .json()
    .await
    .expect("json");
    let organization = organization["id"].as_str().expect("id").to_owned();
    let mut ids = Vec::new();
    for (email, roles, role) in [
        ("dean@example.com", json!(["user"]), "org_admin"),
        ("pia@example.com", json!(["student", "user"]), "member"),
        ("ana@example.com", json!(["analyst"]), "member"),
    ] {
        let created: Value = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": email, "password": PASSWORD, "roles": roles,
                "organization": organization, "organization_role": role})),
        )
        .await
        .json()
        .await
        .expect("json");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    let set = send(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/users/{}/role-profiles/student", ids[1]),
        &admin,
        Some(json!({"student_id": "S-1", "department": "physics"})),
    )
    .await;
    assert_eq!(set.status(), 200);
    let at = position(&set);
    let token = |login: Value| login["access_token"].as_str().expect("token").to_owned();
    let dean = token(app.login("dean@example.com", PASSWORD).await);
    let ana = token(app.login("ana@example.com", PASSWORD).await);

    // The org_admin lists and reads Pia, without her profile, and may not search by it (nor
    // learn the catalog from the refusal).
    let listed = list(&app, "/api/v1/users?role=student", &dean, &at).await;
    assert_eq!(emails(&listed), ["pia@example.com"]);
    assert!(
        listed["items"][0].get("role_profiles").is_none(),
        "{listed}"
    );
    let pia: Value = app
        .get_with_token(&format!("/api/v1/users/{}", ids[1]), &dean)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(pia["email"], "pia@example.com");
    assert!(pia.get("role_profiles").is_none(), "{pia}");
    for probe in [
        "/api/v1/users?role=student&department=physics",
        "/api/v1/users?role=ghost&anything=1",
    ] {
        let refused = problem(app.get_with_token(probe, &dean).await, 403).await;
        assert!(!refused.to_string().contains("student_id"), "{refused}");
    }
    problem(app.get_with_token("/api/v1/roles", &dean).await, 403).await;

    // An analyst reads and searches profiles; so does Pia, her own.
    let searched = list(
        &app,
        "/api/v1/users?role=student&department=physics",
        &ana,
        &at,
    )
    .await;
    assert_eq!(
        searched["items"][0]["role_profiles"]["student"]["department"],
        "physics"
    );
    let own = token(app.login("pia@example.com", PASSWORD).await);
    let me: Value = app
        .get_with_token("/api/v1/auth/me", &own)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["role_profiles"]["student"]["student_id"], "S-1");
}

test_both_backends!(role_profiles_are_for_the_person_and_readers_not_organization_administrators);

async fn a_privileged_role_shields_its_holders_from_organization_administrators(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let organization: Value = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/organizations",
        &admin,
        Some(json!({"name": "Acme"})),
    )
    .await
    .json()
    .await
    .expect("json");
    let organization = organization["id"].as_str().expect("id").to_owned();
    let mut people = Vec::new();
    for (email, role) in [
        ("boss@example.com", "org_admin"),
        ("dee@example.com", "member"),
    ] {
        let created: Value = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({"email": email, "password": PASSWORD, "organization": organization, "organization_role": role})),
        )
        .await
        .json()
        .await
        .expect("json");
        people.push(created["id"].as_str().expect("id").to_owned());
    }
    let boss = app.login("boss@example.com", PASSWORD).await;
    let boss = boss["access_token"].as_str().expect("token").to_owned();
    let change = |token: String, role: &'static str| {
        let path = format!("/api/v1/organizations/{organization}/members/{}", people[1]);
        let app = &app;
        async move {
            send(
                app,
                reqwest::Method::PATCH,
                &path,
                &token,
                Some(json!({"role": role})),
            )
            .await
        }
    };
    assert_eq!(change(boss.clone(), "readonly").await.status(), 200);

    // Dee becomes a treasurer, a role marked privileged: the org_admin may no longer act on her.
    let defined = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "treasurer", "privileged": true})),
    )
    .await;
    assert_eq!(defined.status(), 201);
    let granted = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{}", people[1]),
        &admin,
        Some(json!({"roles": ["treasurer", "user"]})),
    )
    .await;
    assert_eq!(granted.status(), 200);
    problem(change(boss.clone(), "member").await, 403).await;
    // Unmarked, the rule no longer covers it.
    let unmarked = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/roles/treasurer",
        &admin,
        Some(json!({"privileged": false})),
    )
    .await;
    assert_eq!(unmarked.status(), 200);
    assert_eq!(change(boss.clone(), "member").await.status(), 200);
    // Marked again and retired, it still shields its holder.
    let marked = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/roles/treasurer",
        &admin,
        Some(json!({"privileged": true})),
    )
    .await;
    assert_eq!(marked.status(), 200);
    let retired = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/roles/treasurer",
        &admin,
        None,
    )
    .await;
    assert_eq!(retired.status(), 204);
    problem(change(boss, "readonly").await, 403).await;
}

test_both_backends!(a_privileged_role_shields_its_holders_from_organization_administrators);
