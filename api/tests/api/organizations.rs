//! Organizations and their members over real HTTP, on SQLite and PostgreSQL.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app, spawn_app_with};
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

async fn invite(app: &TestApp, token: &str, organization: &str, body: Value) -> reqwest::Response {
    call(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{organization}/invitations"),
        token,
        Some(body),
    )
    .await
}

async fn answer(app: &TestApp, token: &str, organization: &str, verb: &str) -> reqwest::Response {
    call(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/auth/invitations/{organization}/{verb}"),
        token,
        None,
    )
    .await
}

/// `user_id` joins `organization` as `role` the way a person does: invited by `inviter`, they
/// accept with `their_token`.
async fn join(
    app: &TestApp,
    inviter: &str,
    organization: &str,
    user_id: &str,
    their_token: &str,
    role: &str,
) {
    let body = json!({"user_id": user_id, "role": role, "permissions": ["can_view_reports"]});
    assert_eq!(invite(app, inviter, organization, body).await.status(), 201);
    assert_eq!(
        answer(app, their_token, organization, "accept")
            .await
            .status(),
        204
    );
}

async fn member_ids(app: &TestApp, token: &str, organization: &str) -> Vec<String> {
    let organization: Value = call(
        app,
        reqwest::Method::GET,
        &format!("/api/v1/organizations/{organization}"),
        token,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    organization["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|member| member["user_id"].as_str().expect("id").to_owned())
        .collect()
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

    // The org_admin manages acme's members, through invitations the person accepts; a plain
    // member cannot; globex is invisible to both.
    problem(add(&app, &boss, &acme, &ann_id, "member").await, 403).await;
    join(&app, &boss, &acme, &ann_id, &ann, "member").await;
    problem(
        invite(&app, &boss, &acme, json!({"user_id": ann_id})).await,
        409,
    )
    .await;
    problem(add(&app, &ann, &acme, &bob_id, "member").await, 403).await;
    problem(
        invite(&app, &ann, &acme, json!({"user_id": bob_id})).await,
        403,
    )
    .await;
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
    let unknown_flag = invite(&app, &boss, &acme, unknown_flag).await;
    let unknown_flag = problem(unknown_flag, 422).await;
    assert_eq!(unknown_flag["errors"][0]["pointer"], "/permissions");
    assert!(
        unknown_flag["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("can_launch_rockets: unknown; one of can_download_files"),
        "{unknown_flag}"
    );
    let nobody = json!({"user_id": uuid::Uuid::now_v7().to_string()});
    problem(invite(&app, &boss, &acme, nobody).await, 422).await;

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
    // The account is an invitation: a member once its holder accepts, not before.
    assert!(!member_ids(&app, &boss, &acme).await.contains(&new_id));
    let pending: Value = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/organizations/{acme}/invitations"),
        &boss,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(pending[0]["user_id"], new_id.as_str());
    assert_eq!(pending[0]["email"], "new@example.com");
    let with_password =
        json!({"email": "pw@example.com", "organization": acme, "password": PASSWORD});
    problem(
        call(
            &app,
            reqwest::Method::POST,
            "/api/v1/users",
            &boss,
            Some(with_password),
        )
        .await,
        403,
    )
    .await;
    let elsewhere = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/users",
        &boss,
        Some(json!({"email": "x@example.com", "organization": globex})),
    )
    .await;
    // An organization the caller may not see is no organization to them.
    assert_eq!(
        problem(elsewhere, 422).await["errors"][0]["pointer"],
        "/organization"
    );
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

/// The attack that was possible: an org_admin adds an administrator to their organization,
/// changes the administrator's email to one they own, and resets the password through it.
async fn an_org_admin_cannot_take_over_an_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_id, admin) = app.admin().await;
    let acme = create_organization(&app, &admin, "acme").await;
    let (boss_id, boss) = user(&app, "boss@example.com").await;
    add(&app, &admin, &acme, &boss_id, "org_admin").await;
    let (ann_id, ann) = user(&app, "ann@example.com").await;

    // Nobody joins without consent: adding is the administrators'; an invitation is only that.
    problem(add(&app, &boss, &acme, &admin_id, "member").await, 403).await;
    let invited = invite(&app, &boss, &acme, json!({"user_id": admin_id})).await;
    assert_eq!(invited.status(), 201);
    assert!(!member_ids(&app, &boss, &acme).await.contains(&admin_id));
    let takeover = json!({"email": "boss+admin@example.com"});
    let patch = |id: &str, body: Value| {
        let path = format!("/api/v1/users/{id}");
        let (app, boss) = (&app, &boss);
        async move { call(app, reqwest::Method::PATCH, &path, boss, Some(body)).await }
    };
    problem(patch(&admin_id, takeover.clone()).await, 404).await;
    problem(
        call(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/users/{admin_id}/password-reset"),
            &boss,
            None,
        )
        .await,
        404,
    )
    .await;

    // Even an administrator who joined stays theirs alone: the org_admin reads the directory
    // entry and nothing more.
    assert_eq!(answer(&app, &admin, &acme, "accept").await.status(), 204);
    let read = app
        .get_with_token(&format!("/api/v1/users/{admin_id}"), &boss)
        .await;
    assert_eq!(read.status(), 200);
    problem(patch(&admin_id, takeover).await, 403).await;
    problem(
        call(
            &app,
            reqwest::Method::DELETE,
            &format!("/api/v1/organizations/{acme}/members/{admin_id}"),
            &boss,
            None,
        )
        .await,
        403,
    )
    .await;

    // A plain member's credentials, identity and private records are not the org_admin's.
    join(&app, &boss, &acme, &ann_id, &ann, "member").await;
    for body in [
        json!({"email": "boss+ann@example.com"}),
        json!({"phone": "+15555550100"}),
        json!({"username": "ann2"}),
        json!({"first_name": "Not Ann"}),
        json!({"roles": ["user"]}),
    ] {
        problem(patch(&ann_id, body).await, 403).await;
    }
    for path in [
        "profile", "sessions", "activity", "history", "export", "lockout",
    ] {
        let response = app
            .get_with_token(&format!("/api/v1/users/{ann_id}/{path}"), &boss)
            .await;
        problem(response, 403).await;
    }
    problem(
        call(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/users/{ann_id}/lock"),
            &boss,
            Some(json!({})),
        )
        .await,
        403,
    )
    .await;
    // The directory entry and the membership are theirs to manage.
    let entry: Value = app
        .get_with_token(&format!("/api/v1/users/{ann_id}"), &boss)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(entry["email"], "ann@example.com");
    let demoted = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme}/members/{ann_id}"),
        &boss,
        Some(json!({"role": "readonly"})),
    )
    .await;
    assert_eq!(demoted.status(), 200);
    // The administrator may still do all of it.
    let changed = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{ann_id}"),
        &admin,
        Some(json!({"first_name": "Anne"})),
    )
    .await;
    assert_eq!(changed.status(), 200);
}

async fn invitations_are_answered_listed_revoked_and_lapse(backend: Backend) {
    let mut options = Options::default();
    let app = spawn_app_with(backend, options.clone()).await;
    let (_, admin) = app.admin().await;
    let acme = create_organization(&app, &admin, "acme").await;
    let (boss_id, boss) = user(&app, "boss@example.com").await;
    add(&app, &admin, &acme, &boss_id, "org_admin").await;
    let (carol_id, carol) = user(&app, "carol@example.com").await;
    let (dave_id, dave) = user(&app, "dave@example.com").await;

    // The invitee sees the invitation while signed in, and may decline it.
    let offer =
        json!({"user_id": carol_id, "role": "readonly", "permissions": ["can_upload_files"]});
    let invited = invite(&app, &boss, &acme, offer).await;
    assert_eq!(invited.status(), 201);
    assert!(invited.headers().contains_key("x-log-position"));
    let invited: Value = invited.json().await.expect("json");
    assert_eq!(invited["role"], "readonly");
    let own: Value = app
        .get_with_token("/api/v1/auth/invitations", &carol)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own[0]["organization_id"], acme.as_str());
    assert_eq!(own[0]["name"], "acme");
    assert_eq!(own[0]["permissions"], json!(["can_upload_files"]));
    let nothing: Value = app
        .get_with_token("/api/v1/auth/invitations", &dave)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(nothing, json!([]));
    problem(answer(&app, &dave, &acme, "accept").await, 404).await;
    let declined = answer(&app, &carol, &acme, "decline").await;
    assert_eq!(declined.status(), 204);
    assert!(declined.headers().contains_key("x-log-position"));
    assert!(!member_ids(&app, &boss, &acme).await.contains(&carol_id));
    problem(answer(&app, &carol, &acme, "accept").await, 404).await;
    assert_eq!(app.events_of_type("InvitationDeclined").await.len(), 1);

    // The org_admin lists pending invitations and revokes one; a revoked one cannot be accepted.
    assert_eq!(
        invite(&app, &boss, &acme, json!({"user_id": dave_id}))
            .await
            .status(),
        201
    );
    let pending: Value = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/organizations/{acme}/invitations"),
        &boss,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(pending.as_array().expect("list").len(), 1);
    assert_eq!(pending[0]["user_id"], dave_id.as_str());
    let revoke = format!("/api/v1/organizations/{acme}/invitations/{dave_id}");
    problem(
        call(&app, reqwest::Method::DELETE, &revoke, &dave, None).await,
        404,
    )
    .await;
    let revoked = call(&app, reqwest::Method::DELETE, &revoke, &boss, None).await;
    assert_eq!(revoked.status(), 204);
    problem(answer(&app, &dave, &acme, "accept").await, 404).await;
    assert!(!member_ids(&app, &boss, &acme).await.contains(&dave_id));

    // Inviting an address with no account creates one, as an invitation too.
    let by_email = invite(&app, &boss, &acme, json!({"email": "erin@example.com"})).await;
    assert_eq!(by_email.status(), 201);
    let by_email: Value = by_email.json().await.expect("json");
    assert_eq!(by_email["email"], "erin@example.com");
    assert_eq!(app.events_of_type("UserCreated").await.len(), 2);
    assert_eq!(app.events_of_type("InvitedToOrganization").await.len(), 3);

    // An invitation lapses after its lifetime: the answer comes too late, and says so.
    options.auth.invitation_lifetime = domain::Duration::zero();
    let lapsing = spawn_app_with(backend, options).await;
    let (_, admin) = lapsing.admin().await;
    let acme = create_organization(&lapsing, &admin, "acme").await;
    let (frank_id, frank) = user(&lapsing, "frank@example.com").await;
    assert_eq!(
        invite(&lapsing, &admin, &acme, json!({"user_id": frank_id}))
            .await
            .status(),
        201
    );
    let nothing: Value = lapsing
        .get_with_token("/api/v1/auth/invitations", &frank)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(nothing, json!([]));
    let late = problem(answer(&lapsing, &frank, &acme, "accept").await, 410).await;
    assert_eq!(late["type"], "urn:idlog:problem:invitation-expired");
    assert_eq!(lapsing.events_of_type("InvitationExpired").await.len(), 1);
    assert!(
        !member_ids(&lapsing, &admin, &acme)
            .await
            .contains(&frank_id)
    );
}

test_both_backends!(
    an_org_admin_cannot_take_over_an_account,
    invitations_are_answered_listed_revoked_and_lapse,
    members_and_org_admins_manage_only_their_organization,
    an_org_admin_creates_users_in_their_organization,
    members_of_a_suspended_organization_cannot_log_in,
);

fn partner(code: &str, sender: &str, receiver: &str) -> Value {
    json!({"code": code, "communication": "sftp", "edi_format": "X12",
           "sender_id": sender, "receiver_id": receiver})
}

async fn partners_are_unique_found_by_code_and_filtered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let post = |body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            call(
                app,
                reqwest::Method::POST,
                "/api/v1/organizations",
                &admin,
                Some(body),
            )
            .await
        }
    };
    // A partner, its code kept upper case.
    let created =
        post(json!({"name": "acme", "partner": partner("acme001", "ACMESEND", "IDLOGRECV")})).await;
    assert_eq!(created.status(), 201);
    let acme: Value = created.json().await.expect("json");
    assert_eq!(acme["partner"]["code"], "ACME001");
    assert_eq!(acme["partner"]["edi_format"], "X12");
    let acme_id = acme["id"].as_str().expect("id").to_owned();

    // The code and the pair of ids are taken; a bad code is told where.
    let taken = post(json!({"name": "other", "partner": partner("ACME001", "X", "Y")})).await;
    let body = problem(taken, 409).await;
    assert_eq!(
        body["type"], "urn:idlog:problem:partner-code-taken",
        "{body}"
    );
    assert_eq!(body["errors"][0]["pointer"], "/partner/code");
    let pair =
        post(json!({"name": "other", "partner": partner("OTHER", "ACMESEND", "IDLOGRECV")})).await;
    assert_eq!(
        problem(pair, 409).await["type"],
        "urn:idlog:problem:interchange-pair-taken"
    );
    let bad = post(json!({"name": "other", "partner": partner("A B", "X", "Y")})).await;
    assert_eq!(
        problem(bad, 422).await["errors"][0]["pointer"],
        "/partner/code"
    );
    // Nothing of a refused creation was kept: the name is still free.
    let globex =
        post(json!({"name": "other", "partner": partner("GLOBEX", "GLOBEXSEND", "IDLOGRECV")}))
            .await;
    assert_eq!(globex.status(), 201);
    let plain = post(json!({"name": "plain"})).await;
    assert_eq!(plain.status(), 201);

    // Found by code, in any case.
    let found = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/partners/acme001",
        &admin,
        None,
    )
    .await;
    assert_eq!(found.status(), 200);
    assert_eq!(found.json::<Value>().await.expect("json")["id"], acme_id);
    let missing = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/partners/NOPE",
        &admin,
        None,
    )
    .await;
    assert_eq!(missing.status(), 404);

    // Listed and filtered by them.
    let head = app.head_position().await;
    let list = |query: &str| {
        let (app, admin) = (&app, admin.clone());
        let path = format!("/api/v1/organizations?min_position={head}&{query}");
        async move {
            let answer = call(app, reqwest::Method::GET, &path, &admin, None).await;
            assert_eq!(answer.status(), 200, "{path}");
            let listed: Value = answer.json().await.expect("json");
            listed
                .as_array()
                .expect("list")
                .iter()
                .map(|o| o["name"].as_str().expect("name").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("partner_code=acme001").await, ["acme"]);
    assert_eq!(list("edi_format=X12").await, ["acme", "other"]);
    assert_eq!(list("communication=api").await, Vec::<String>::new());
    assert_eq!(list("q=globexsend").await, ["other"]);
    assert_eq!(list("q=acme0").await, ["acme"]);
    let unknown = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/organizations?edi_format=PDF",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        problem(unknown, 400).await["errors"][0]["pointer"],
        "/edi_format"
    );

    // A change whose partner code is taken changes nothing else either.
    let taken_code = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme_id}"),
        &admin,
        Some(
            json!({"display_name": "Renamed", "partner": partner("GLOBEX", "NEWSEND", "NEWRECV")}),
        ),
    )
    .await;
    problem(taken_code, 409).await;
    let unchanged = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/organizations/{acme_id}"),
        &admin,
        None,
    )
    .await;
    let unchanged: Value = unchanged.json().await.expect("json");
    assert!(unchanged["display_name"].is_null(), "{unchanged}");
    assert_eq!(unchanged["partner"]["code"], "ACME001");

    // Changed, the old code is free again; removed, so is the pair.
    let changed = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme_id}"),
        &admin,
        Some(json!({"partner": partner("ACME002", "ACMESEND", "IDLOGRECV")})),
    )
    .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(
        changed.json::<Value>().await.expect("json")["partner"]["code"],
        "ACME002"
    );
    let removed = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme_id}"),
        &admin,
        Some(json!({"partner": null})),
    )
    .await;
    assert_eq!(removed.status(), 200);
    assert!(removed.json::<Value>().await.expect("json")["partner"].is_null());
    let reused =
        post(json!({"name": "newco", "partner": partner("ACME001", "ACMESEND", "IDLOGRECV")}))
            .await;
    assert_eq!(reused.status(), 201);
}

test_both_backends!(partners_are_unique_found_by_code_and_filtered);

async fn permission_flags_open_reports_and_settings_to_members_holding_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = create_organization(&app, &admin, "acme").await;
    let mut members = Vec::new();
    for (email, flags) in [
        ("plain@example.com", json!([])),
        ("reports@example.com", json!(["can_view_reports"])),
        ("settings@example.com", json!(["can_manage_settings"])),
    ] {
        let (id, token) = user(&app, email).await;
        let added = call(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/organizations/{acme}/members"),
            &admin,
            Some(json!({"user_id": id, "role": "member", "permissions": flags})),
        )
        .await;
        assert_eq!(added.status(), 201, "{email}");
        // A fresh token: the policy reads memberships at each request anyway.
        members.push(token);
    }
    let [plain, reports, settings] = &members[..] else {
        panic!("three members")
    };
    let analytics = format!("/api/v1/analytics/organizations/{acme}");
    let read = |token: &str| {
        let (app, analytics, token) = (&app, analytics.clone(), token.to_owned());
        async move { call(app, reqwest::Method::GET, &analytics, &token, None).await }
    };
    assert_eq!(read(reports).await.status(), 200);
    problem(read(plain).await, 403).await;
    problem(read(settings).await, 403).await;

    let path = format!("/api/v1/organizations/{acme}");
    let edit = |token: &str, body: Value| {
        let (app, path, token) = (&app, path.clone(), token.to_owned());
        async move { call(app, reqwest::Method::PATCH, &path, &token, Some(body)).await }
    };
    let edited = edit(
        settings,
        json!({"display_name": "ACME Inc.", "contact_email": "edi@example.com"}),
    )
    .await;
    assert_eq!(edited.status(), 200);
    assert_eq!(
        edited.json::<Value>().await.expect("json")["display_name"],
        "ACME Inc."
    );
    problem(edit(plain, json!({"display_name": "x"})).await, 403).await;
    problem(edit(reports, json!({"display_name": "x"})).await, 403).await;
    // Not the name, the status or the partner details.
    problem(edit(settings, json!({"name": "acme two"})).await, 403).await;
    problem(edit(settings, json!({"status": "suspended"})).await, 403).await;
    problem(
        edit(settings, json!({"partner": {"code": "X", "communication": "api", "edi_format": "CSV", "sender_id": "A", "receiver_id": "B"}})).await,
        403,
    )
    .await;
    // Retired from the catalog, the flag grants nothing any more.
    let retired = call(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/permissions/can_view_reports",
        &admin,
        None,
    )
    .await;
    assert_eq!(retired.status(), 204);
    problem(read(reports).await, 403).await;
}

test_both_backends!(permission_flags_open_reports_and_settings_to_members_holding_them);

async fn the_flag_catalog_lives_in_the_log_and_retired_flags_are_no_longer_given(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = create_organization(&app, &admin, "acme").await;
    let catalog = |token: String| {
        let app = &app;
        async move {
            let answer = call(
                app,
                reqwest::Method::GET,
                "/api/v1/permissions",
                &token,
                None,
            )
            .await;
            assert_eq!(answer.status(), 200);
            answer.json::<Value>().await.expect("json")
        }
    };
    // Before any change the configured flags are the catalog.
    let seeded = catalog(admin.clone()).await;
    assert_eq!(
        seeded["active"].as_array().map(Vec::len),
        Some(5),
        "{seeded}"
    );
    let define = |name: &str| {
        let (app, admin, name) = (&app, admin.clone(), name.to_owned());
        async move {
            call(
                app,
                reqwest::Method::POST,
                "/api/v1/permissions",
                &admin,
                Some(json!({"name": name})),
            )
            .await
        }
    };
    let defined = define("can_sign_contracts").await;
    assert_eq!(defined.status(), 201);
    let defined: Value = defined.json().await.expect("json");
    assert!(
        defined["active"]
            .as_array()
            .expect("active")
            .contains(&json!("can_sign_contracts"))
    );
    problem(define("can_sign_contracts").await, 409).await;

    // A new flag is given; a retired one no longer is, though its holders keep it.
    let (ann_id, _) = user(&app, "ann@example.com").await;
    let (bob_id, _) = user(&app, "bob@example.com").await;
    let add = |user: String, flags: Value| {
        let (app, admin, path) = (
            &app,
            admin.clone(),
            format!("/api/v1/organizations/{acme}/members"),
        );
        async move {
            call(
                app,
                reqwest::Method::POST,
                &path,
                &admin,
                Some(json!({"user_id": user, "role": "member", "permissions": flags})),
            )
            .await
        }
    };
    assert_eq!(
        add(
            ann_id.clone(),
            json!(["can_sign_contracts", "can_view_reports"])
        )
        .await
        .status(),
        201
    );
    let retired = call(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/permissions/can_sign_contracts",
        &admin,
        None,
    )
    .await;
    assert_eq!(retired.status(), 204);
    problem(
        call(
            &app,
            reqwest::Method::DELETE,
            "/api/v1/permissions/can_sign_contracts",
            &admin,
            None,
        )
        .await,
        404,
    )
    .await;
    let refused = problem(add(bob_id, json!(["can_sign_contracts"])).await, 422).await;
    assert_eq!(refused["errors"][0]["pointer"], "/permissions");
    // Invited by email with a flag it cannot give, no account is made and no one is told.
    let accounts = app.events_of_type("UserCreated").await.len();
    let invited = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{acme}/invitations"),
        &admin,
        Some(json!({"email": "newcomer@example.com", "permissions": ["can_sign_contracts"]})),
    )
    .await;
    problem(invited, 422).await;
    assert_eq!(
        app.events_of_type("UserCreated").await.len(),
        accounts,
        "no account for the refused invitation"
    );
    let now = catalog(admin.clone()).await;
    assert_eq!(now["retired"], json!(["can_sign_contracts"]));
    // Ann keeps it through a change of her other flags.
    let changed = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/organizations/{acme}/members/{ann_id}"),
        &admin,
        Some(json!({"permissions": ["can_sign_contracts", "can_upload_files"]})),
    )
    .await;
    assert_eq!(changed.status(), 200);
    // The catalog is in the log: its events are there for auditors.
    assert_eq!(app.events_of_type("PermissionsSeeded").await.len(), 1);
    assert_eq!(app.events_of_type("PermissionRetired").await.len(), 1);
}

test_both_backends!(the_flag_catalog_lives_in_the_log_and_retired_flags_are_no_longer_given);
