//! The console as each role sees it: an administrator lists everyone, an org_admin their
//! organization's members, a plain user nothing (and no link to it).

use crate::accounts::{PASSWORD, SCRIPT_NAME, server, sign_in};
use crate::browser::Browser;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::TestApp;
use serde_json::json;

/// Registers `email` with a first name; answers the user's id.
async fn person(app: &TestApp, email: &str, first_name: &str) -> String {
    let response = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "first_name": first_name}),
        )
        .await;
    assert_eq!(response.status(), 201, "register {email}");
    let body: serde_json::Value = response.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

/// Waits until the users read model has applied everything appended so far.
async fn directory_caught_up(app: &TestApp) {
    let head = app.head_position().await;
    app.projector
        .wait_for(head, &["directory"], std::time::Duration::from_secs(10))
        .await
        .expect("read models");
}

/// Signs the administrator `TestApp::admin` created in.
async fn sign_in_as_administrator(browser: &Browser) {
    sign_in(
        browser,
        "root@example.com",
        "the administrator's passphrase",
    )
    .await;
}

async fn each_role_lists_the_users_the_policy_lets_it_read(backend: Backend) {
    let app = server(backend).await;
    let (_, admin) = app.admin().await;
    let ann = person(&app, "ann@example.com", SCRIPT_NAME).await;
    let bo = person(&app, "bo@example.com", "Bo").await;
    let cy = person(&app, "cy@example.com", "Cy").await;
    let created = app
        .post_with_token("/api/v1/organizations", &admin, &json!({"name": "acme"}))
        .await;
    let organization: serde_json::Value = created.json().await.expect("json");
    let organization = organization["id"].as_str().expect("id").to_owned();
    for (user, role) in [(&ann, "member"), (&bo, "org_admin")] {
        let added = app
            .post_with_token(
                &format!("/api/v1/organizations/{organization}/members"),
                &admin,
                &json!({"user_id": user, "role": role}),
            )
            .await;
        assert_eq!(added.status(), 201, "{role}");
    }
    directory_caught_up(&app).await;

    // The administrator: everyone, the names as typed.
    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    browser.click("a[href='/console/users']").await;
    let table = browser.text("#users tbody").await;
    for email in [
        "ann@example.com",
        "bo@example.com",
        "cy@example.com",
        "root@example.com",
    ] {
        assert!(table.contains(email), "{email} in {table}");
    }
    assert!(table.contains(SCRIPT_NAME), "{table}");
    browser.assert_no_dialog().await;
    browser.assert_accessible().await;
    browser.screenshots("console-users").await;
    browser.fill("q", "cy@").await;
    browser.submit("#search-users").await;
    let found = browser.text("#users tbody").await;
    assert_eq!(found.lines().count(), 1, "{found}");
    assert!(found.contains("cy@example.com"));
    // The activity log: everything, filtered by action, downloadable.
    browser
        .click("nav.console a[href='/console/activity']")
        .await;
    let log = browser.text("table.activity tbody").await;
    assert!(log.contains("MemberAdded") && log.contains(&cy), "{log}");
    browser.assert_accessible().await;
    browser.screenshots("console-activity").await;
    browser.fill("action", "UserRegistered").await;
    browser.submit("form[action='/console/activity']").await;
    let registered = browser.text("table.activity tbody").await;
    assert_eq!(registered.lines().count(), 3, "{registered}");
    assert!(
        registered
            .lines()
            .all(|line| line.contains("UserRegistered"))
    );
    let csv = browser
        .fetch("/console/activity/export?format=csv&action=UserRegistered")
        .await;
    assert_eq!(csv[0], 200);
    assert!(
        csv[1].as_str().unwrap_or_default().starts_with("text/csv"),
        "{csv}"
    );
    let text = csv[2].as_str().unwrap_or_default();
    assert!(text.starts_with("position,event_id,at,"), "{text}");
    assert_eq!(text.lines().count(), 4, "a header and three rows: {text}");
    let ndjson = browser
        .fetch("/console/activity/export?format=ndjson")
        .await;
    assert_eq!(ndjson[1], "application/x-ndjson");
    browser.close().await;

    // The org_admin: their organization's members only.
    let browser = Browser::open(&app).await;
    sign_in(&browser, "bo@example.com", PASSWORD).await;
    browser.click("a[href='/console/users']").await;
    let table = browser.text("#users tbody").await;
    assert!(
        table.contains("ann@example.com") && table.contains("bo@example.com"),
        "{table}"
    );
    assert!(
        !table.contains("cy@example.com") && !table.contains("root@"),
        "{table}"
    );
    // The whole activity log is not theirs to read (as over REST): no link, a 403 page.
    assert!(!browser.has("nav.console a[href='/console/activity']").await);
    browser.go("/console/activity").await;
    assert!(browser.text("p.status").await.contains("403"));
    browser.close().await;

    // A plain user: no link, and the page is refused.
    let browser = Browser::open(&app).await;
    sign_in(&browser, "cy@example.com", PASSWORD).await;
    assert!(!browser.has("a[href='/console/users']").await);
    for section in ["/console/users", "/console/activity"] {
        browser.go(section).await;
        assert!(
            browser.text("p.status").await.contains("403"),
            "{section}: {}",
            browser.body().await
        );
    }
    browser.assert_accessible().await;
    browser.close().await;
}

test_both_backends!(each_role_lists_the_users_the_policy_lets_it_read);

/// Creates a user with `role` (as the administrator `admin`), signed in with [`PASSWORD`].
async fn staff(app: &TestApp, admin: &str, email: &str, role: &str) -> String {
    let response = app
        .post_with_token(
            "/api/v1/users",
            admin,
            &json!({"email": email, "password": PASSWORD, "roles": [role]}),
        )
        .await;
    assert_eq!(response.status(), 201, "create {email}");
    let body: serde_json::Value = response.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

/// Renames `user` over REST, as another administrator's tab would.
async fn rename(app: &TestApp, admin: &str, user: &str, first_name: &str) {
    let response = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{user}"),
            admin,
            Some(json!({"first_name": first_name})),
            &[],
        )
        .await;
    assert_eq!(response.status(), 200, "rename");
}

async fn an_administrator_locks_a_user_and_a_stale_edit_shows_what_changed(backend: Backend) {
    let app = server(backend).await;
    let (_, admin) = app.admin().await;
    let ann = person(&app, "ann@example.com", "Ann").await;
    person(&app, "bo@example.com", "Bo").await;
    app.login("ann@example.com", PASSWORD).await;
    directory_caught_up(&app).await;

    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    browser.click("a[href='/console/users']").await;
    browser.fill("q", "ann@").await;
    browser.submit("#search-users").await;
    browser
        .click(&format!("#users a[href='/console/users/{ann}']"))
        .await;
    assert_eq!(browser.text("h1").await, "Ann");
    let facts = browser.text("#facts").await;
    assert!(facts.contains("not locked"), "{facts}");
    browser.assert_accessible().await;
    browser.screenshots("console-user").await;
    // Her REST session, revoked by hand.
    assert!(browser.text("#sessions tbody").await.contains("active"));
    browser.submit("#sessions form").await;
    assert!(
        browser.text("p.notice").await.contains("signed out"),
        "{}",
        browser.body().await
    );

    // Someone else renames her while the page is open: the lock is not taken, and the page
    // says what changed.
    rename(&app, &admin, &ann, "Annie").await;
    browser.fill("lock-reason", "fraud review").await;
    browser
        .submit(&format!("form[action='/console/users/{ann}/lock']"))
        .await;
    assert!(
        browser
            .text(".problem")
            .await
            .contains("Someone changed this user"),
        "{}",
        browser.body().await
    );
    let changed = browser.text("#stale table.compared tr.changed").await;
    assert!(
        changed.contains("Name") && changed.contains("Ann") && changed.contains("Annie"),
        "{changed}"
    );
    assert!(
        browser.text("#stale").await.contains("UserProfileUpdated")
            || browser.text("#stale").await.contains("Profile")
    );
    assert!(browser.text("#facts").await.contains("not locked"));
    browser.assert_accessible().await;
    browser.screenshots("console-user-stale").await;

    // On the page as it is now, the lock is taken.
    browser.fill("lock-reason", "fraud review").await;
    browser
        .submit(&format!("form[action='/console/users/{ann}/lock']"))
        .await;
    assert!(
        browser.text("p.notice").await.contains("locked"),
        "{}",
        browser.body().await
    );
    assert!(
        browser
            .text("#facts")
            .await
            .contains("locked until unlocked")
    );
    assert!(
        browser
            .text("table.activity tbody")
            .await
            .contains("Locked")
    );
    // The activity log has it too.
    browser
        .click(&format!("a[href='/console/activity?user={ann}']"))
        .await;
    let log = browser.text("table.activity tbody").await;
    assert!(
        log.lines().next().unwrap_or_default().contains("Locked"),
        "{log}"
    );
    browser.close().await;

    // And she cannot sign in.
    let browser = Browser::open(&app).await;
    browser.go("/sign-in").await;
    browser.fill("login", "ann@example.com").await;
    browser.fill("password", PASSWORD).await;
    browser.submit("form[action='/sign-in']").await;
    assert!(browser.has(".problem").await, "{}", browser.body().await);
    assert!(!browser.has("#status-heading").await);
    browser.close().await;
}

test_both_backends!(an_administrator_locks_a_user_and_a_stale_edit_shows_what_changed);

async fn analysts_read_charts_and_auditors_read_the_past(backend: Backend) {
    let app = server(backend).await;
    let (_, admin) = app.admin().await;
    staff(&app, &admin, "ana@example.com", "analyst").await;
    staff(&app, &admin, "aud@example.com", "auditor").await;
    let ann = person(&app, "ann@example.com", "Ann").await;
    // A second later than everything so far, she is renamed.
    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    rename(&app, &admin, &ann, "Annie").await;
    let head = app.head_position().await;
    app.projector
        .wait_for(
            head,
            &["directory", "analytics"],
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("read models");

    // The analyst: the charts, with their numbers, and no administration of users.
    let browser = Browser::open(&app).await;
    sign_in(&browser, "ana@example.com", PASSWORD).await;
    browser.click("a[href='/console/users']").await;
    browser
        .click("nav.console a[href='/console/analytics']")
        .await;
    assert!(browser.has("#chart-daily").await);
    let funnel = browser.text("#chart-funnel").await;
    assert!(funnel.contains("Registered"), "{funnel}");
    let figures = browser.text("#figures").await;
    assert!(
        figures.contains("Users\n4") || figures.contains("Users 4"),
        "{figures}"
    );
    assert!(
        browser
            .attribute("#chart-funnel rect.bar", "fill")
            .await
            .is_some(),
        "bars are filled with patterns"
    );
    browser.assert_accessible().await;
    browser.screenshots("console-analytics").await;
    browser
        .run("document.getElementById('daily-heading').scrollIntoView()")
        .await;
    browser.screenshots("console-charts").await;
    browser.go(&format!("/console/users/{ann}")).await;
    assert_eq!(browser.text("h1").await, "Annie");
    assert!(!browser.has("#account-actions").await);
    assert!(
        !browser
            .has(&format!("form[action='/console/users/{ann}/roles']"))
            .await
    );
    browser.close().await;

    // The auditor: her history, and her state as of before the rename beside now.
    let browser = Browser::open(&app).await;
    sign_in(&browser, "aud@example.com", PASSWORD).await;
    browser.go(&format!("/console/users/{ann}")).await;
    let timeline = browser.text("#timeline tbody").await;
    assert!(timeline.contains("UserRegistered"), "{timeline}");
    // The form's GET (the field also takes an RFC 3339 time).
    browser
        .go(&format!(
            "/console/users/{ann}?as_of={}&position=#history",
            before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ))
        .await;
    let compared = browser.text("#history table.compared").await;
    let name = compared
        .lines()
        .find(|line| line.starts_with("Name"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        name.contains("Ann") && name.contains("Annie") && name.contains("changed"),
        "{compared}"
    );
    assert!(!browser.has("#account-actions").await);
    browser.assert_accessible().await;
    browser.screenshots("console-user-history").await;
    browser.close().await;
}

test_both_backends!(analysts_read_charts_and_auditors_read_the_past);

/// Chooses `value` in the select `id`.
async fn choose(browser: &Browser, id: &str, value: &str) {
    browser
        .run(&format!(
            "document.getElementById('{id}').value = '{value}'"
        ))
        .await;
}

/// Reloads the operations page until it shows the directory stopped at a dead letter.
async fn wait_until_stopped(browser: &Browser) {
    let mut stopped = false;
    for _ in 0..100 {
        browser.go("/console/operations").await;
        // Both the status and the letter are read: wait for a page that shows them both.
        if browser
            .text("#read-models tbody")
            .await
            .contains("stopped at")
            && browser
                .has("form[action='/console/operations/read-models/directory/skip']")
                .await
        {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(stopped, "the directory stopped at the event");
}

async fn administrators_run_organizations_the_log_and_the_processing(backend: Backend) {
    let app = server(backend).await;
    let (_, admin) = app.admin().await;
    let bo = person(&app, "bo@example.com", "Bo").await;
    let cy = person(&app, "cy@example.com", "Cy").await;
    // Where cy registered (the wallet worker appends after it, so not the head).
    let registered = app
        .events_of_type("UserRegistered")
        .await
        .iter()
        .find(|event| event.stream_id == cy)
        .map(|event| event.global_position)
        .expect("cy's registration");
    let other = app
        .post_with_token("/api/v1/organizations", &admin, &json!({"name": "globex"}))
        .await;
    assert_eq!(other.status(), 201);

    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    // A user created with a temporary password.
    browser.go("/console/users").await;
    browser.fill("new-email", "dee@example.com").await;
    browser.fill("new-first-name", "Dee").await;
    browser.fill("new-password", "a temporary passphrase").await;
    browser.submit("#create-user").await;
    assert_eq!(browser.text("h1").await, "Dee", "{}", browser.body().await);
    assert!(browser.text("p.notice").await.contains("created"));
    let facts = browser.text("#facts").await;
    assert!(facts.contains("Must choose a new password\nyes"), "{facts}");
    // An organization, created and edited.
    browser.go("/console/organizations").await;
    browser.assert_accessible().await;
    // The flag catalog: one defined, then retired once confirmed.
    browser.fill("flag-name", "can_sign_contracts").await;
    browser.submit("#define-flag").await;
    assert!(browser.text("p.notice").await.contains("defined"));
    assert!(browser.text("#flags").await.contains("can_sign_contracts"));
    browser.click("#retire-can_sign_contracts").await;
    browser
        .submit("form[action='/console/permissions/retire']:has(#retire-can_sign_contracts)")
        .await;
    assert!(browser.text("p.notice").await.contains("retired"));
    assert!(!browser.text("#flags").await.contains("can_sign_contracts"));
    assert!(browser.text("#catalog").await.contains("Retired"));
    browser.assert_accessible().await;
    browser.fill("new-name", "acme").await;
    browser.submit("#create-organization").await;
    assert_eq!(browser.text("h1").await, "acme", "{}", browser.body().await);
    assert!(browser.text("p.notice").await.contains("created"));
    browser.fill("display_name", "Acme Inc.").await;
    choose(&browser, "org-status", "testing").await;
    browser.submit("#organization-details").await;
    assert!(browser.text("p.notice").await.contains("saved"));
    assert_eq!(
        browser.attribute("#display_name", "value").await.as_deref(),
        Some("Acme Inc.")
    );
    // Its partner details, the code kept upper case.
    browser.fill("partner-code", "acme001").await;
    choose(&browser, "partner-format", "EDIFACT").await;
    browser.fill("partner-sender", "ACMESEND").await;
    browser.fill("partner-receiver", "IDLOGRECV").await;
    browser.submit("#partner-form").await;
    assert!(browser.text("p.notice").await.contains("partner details"));
    assert_eq!(
        browser.attribute("#partner-code", "value").await.as_deref(),
        Some("ACME001")
    );
    // Bo added directly as its org_admin, Cy invited by email, then the invitation revoked.
    browser.fill("member-user", &bo).await;
    choose(&browser, "member-role", "org_admin").await;
    browser
        .fill("member-flags", "can_upload_files, can_view_reports")
        .await;
    browser.click("#invite").await;
    browser.submit("#add-member").await;
    assert!(
        browser.text("p.notice").await.contains("added"),
        "{}",
        browser.body().await
    );
    let members = browser.text("#members tbody").await;
    assert!(members.contains("bo@example.com"), "{members}");
    assert_eq!(
        browser
            .attribute(&format!("#flags-{bo}"), "value")
            .await
            .as_deref(),
        Some("can_upload_files, can_view_reports")
    );
    browser.fill("member-user", "cy@example.com").await;
    browser.submit("#add-member").await;
    assert!(
        browser
            .text("#invitations tbody")
            .await
            .contains("cy@example.com")
    );
    browser.assert_accessible().await;
    browser.screenshots("console-organization").await;
    browser.submit("#invitations form").await;
    assert!(browser.text("p.notice").await.contains("revoked"));
    assert!(!browser.has("#invitations").await);
    // Cy added directly, then removed; Bo's flags changed.
    browser.fill("member-user", &cy).await;
    browser.click("#invite").await;
    browser.submit("#add-member").await;
    assert!(
        browser
            .text("#members tbody")
            .await
            .contains("cy@example.com")
    );
    browser
        .submit(&format!("form[action$='/members/{cy}/remove']"))
        .await;
    assert!(browser.text("p.notice").await.contains("removed"));
    assert!(
        !browser
            .text("#members tbody")
            .await
            .contains("cy@example.com")
    );
    browser
        .fill(&format!("flags-{bo}"), "can_view_reports")
        .await;
    browser
        .submit(&format!("form[action$='/members/{bo}']"))
        .await;
    assert!(browser.text("p.notice").await.contains("saved"));
    assert_eq!(
        browser
            .attribute(&format!("#flags-{bo}"), "value")
            .await
            .as_deref(),
        Some("can_view_reports")
    );
    let organization = browser.path().await;

    // The log: verified whole, with its head hash; downloadable as stored.
    browser.click("nav.console a[href='/console/audit']").await;
    browser.submit("form[action='/console/audit']").await;
    let verified = browser.text("#verified").await;
    assert!(verified.contains("The chain is intact"), "{verified}");
    let head_hash = browser.text("#verified code").await;
    assert_eq!(head_hash.len(), 64, "{head_hash}");
    browser.assert_accessible().await;
    browser.screenshots("console-audit").await;
    // Every reaction in the log first (wallets opened), so that the head stands still.
    app.quiet().await;
    let export = browser.fetch("/console/audit/export").await;
    assert_eq!(export[0], 200);
    assert_eq!(export[1], "application/x-ndjson");
    let lines = export[2].as_str().unwrap_or_default().lines().count() as u64;
    assert_eq!(
        lines,
        app.head_position().await,
        "every event, one per line"
    );

    // The processing: read models and workers, the storage folders, the delivery log.
    browser
        .click("nav.console a[href='/console/operations']")
        .await;
    let read_models = browser.text("#read-models tbody").await;
    assert!(
        read_models.contains("directory") && read_models.contains("running"),
        "{read_models}"
    );
    assert!(browser.text("#workers tbody").await.contains("storage"));
    assert!(browser.text("#deliveries tbody").await.contains("welcome"));
    browser
        .submit("form[action='/console/operations#storage']")
        .await;
    let report = browser.text("#storage-report").await;
    assert!(
        report.contains("Users checked\n4") || report.contains("Users checked 4"),
        "{report}"
    );
    browser.assert_accessible().await;
    browser.screenshots("console-operations").await;
    browser.click("#confirm-rebuild").await;
    browser
        .submit("form[action='/console/operations/storage/rebuild']")
        .await;
    assert!(browser.text("p.notice").await.contains("rebuilt"));
    assert!(browser.has("#storage-report").await);

    // A worker's dead letter (as the runner records one it gave up on) is tried again.
    eventstore::sql::execute(
        app.projector.database(),
        "INSERT INTO worker_dead_letters (worker, position, event_id, event_type, stream_id, error, attempts, failed_at) \
         VALUES ('storage', $1, 'e', 'UserRegistered', $2, 'the bucket did not answer', 8, $3)",
        &[
            i64::try_from(registered).expect("small").into(),
            cy.clone().into(),
            chrono::Utc::now().into(),
        ],
    )
    .await
    .expect("dead letter");
    browser.go("/console/operations").await;
    assert!(browser.text("#workers tbody").await.contains("storage"));
    assert!(browser.body().await.contains("the bucket did not answer"));
    browser
        .submit("form[action='/console/operations/workers/retry']")
        .await;
    assert!(
        browser.text("p.notice").await.contains("went through"),
        "{}",
        browser.body().await
    );
    assert!(!browser.body().await.contains("the bucket did not answer"));

    // A read model stopped at an event it cannot read tries it again, then is moved past it,
    // once confirmed.
    app.log
        .append(eventstore::AppendRequest::new(
            cy.clone(),
            "user",
            eventstore::ExpectedVersion::Any,
            vec![eventstore::NewEvent {
                event_type: "EmailVerified".into(),
                schema_version: 1,
                payload: json!({"unexpected": true}),
                personal_fields: Vec::new(),
            }],
        ))
        .await
        .expect("appended");
    wait_until_stopped(&browser).await;
    browser.assert_accessible().await;
    // Tried again, it fails again the same way and stops there again.
    browser
        .submit("form[action='/console/operations/read-models/directory/retry']")
        .await;
    assert!(
        browser
            .text("p.notice")
            .await
            .contains("tries the event again")
    );
    wait_until_stopped(&browser).await;
    browser
        .click("form[action='/console/operations/read-models/directory/skip'] input[name=confirm]")
        .await;
    browser
        .submit("form[action='/console/operations/read-models/directory/skip']")
        .await;
    assert!(browser.text("p.notice").await.contains("went on past"));
    browser.close().await;

    // Bo, the org_admin, sees their organization and no one else's, and no operations.
    let browser = Browser::open(&app).await;
    sign_in(&browser, "bo@example.com", PASSWORD).await;
    browser.click("a[href='/console/users']").await;
    assert!(
        !browser
            .has("nav.console a[href='/console/operations']")
            .await
    );
    assert!(!browser.has("nav.console a[href='/console/audit']").await);
    browser
        .click("nav.console a[href='/console/organizations']")
        .await;
    assert_eq!(
        browser.text("#organizations tbody").await.lines().count(),
        1
    );
    assert!(browser.text("#organizations tbody").await.contains("acme"));
    browser.go(&organization).await;
    assert_eq!(browser.text("h1").await, "acme");
    let partner = browser.text("#partner-facts").await;
    assert!(
        partner.contains("ACME001") && partner.contains("EDIFACT"),
        "{partner}"
    );
    assert!(!browser.has("#partner-form").await);
    // An API key for acme's systems: shown once, working, then revoked.
    browser.fill("key-name", "nightly import").await;
    browser.fill("key-flags", "can_view_reports").await;
    // A date field's typing depends on the browser's locale: its value is set directly.
    browser
        .run("document.getElementById('key-expires').value = '2999-12-31'")
        .await;
    browser.submit("#create-key").await;
    let key = browser.text("#new-key-token").await;
    assert!(key.starts_with("idlog_key_"), "{}", browser.body().await);
    let keys = browser.text("#keys tbody").await;
    assert!(
        keys.contains("nightly import") && keys.contains("active") && keys.contains("2999"),
        "{keys}"
    );
    browser.assert_accessible().await;
    let acme = organization
        .trim_start_matches("/console/organizations/")
        .split('?')
        .next()
        .unwrap_or_default();
    let dashboard = format!("/api/v1/analytics/organizations/{acme}");
    assert_eq!(app.get_with_token(&dashboard, &key).await.status(), 200);
    browser.go(&organization).await;
    assert!(!browser.has("#new-key").await, "shown once");
    browser.submit("#keys form").await;
    assert!(browser.text("p.notice").await.contains("revoked"));
    assert!(browser.text("#keys tbody").await.contains("revoked"));
    assert!(!browser.has("#keys form").await);
    assert_eq!(app.get_with_token(&dashboard, &key).await.status(), 401);
    // Their organization's analytics, and no one else's.
    browser
        .click("nav.console a[href='/console/analytics']")
        .await;
    assert!(!browser.has("#organization option[value='']").await);
    assert!(browser.text("#organization").await.contains("acme"));
    assert!(!browser.text("#organization").await.contains("globex"));
    assert!(browser.has("#chart-funnel").await);
    browser.assert_accessible().await;
    // Their accounts are invitations into their organization, with no password.
    browser.go("/console/users").await;
    assert!(!browser.has("#new-password").await);
    browser.fill("new-email", "eve@example.com").await;
    browser.submit("#create-user").await;
    assert!(
        browser.text("p.notice").await.contains("invitation"),
        "{}",
        browser.body().await
    );
    browser.go("/console/operations").await;
    assert!(browser.text("p.status").await.contains("403"));
    browser.close().await;
}

test_both_backends!(administrators_run_organizations_the_log_and_the_processing);

/// The user page's facts.
async fn facts(browser: &Browser) -> String {
    browser.text("#facts").await
}

/// Submits the action form `action` of the user page of `user` (filled in before); answers the
/// notice shown.
async fn act(browser: &Browser, user: &str, action: &str) -> String {
    browser
        .submit(&format!("form[action='/console/users/{user}/{action}']"))
        .await;
    browser.text("p.notice").await
}

async fn every_account_action_works_from_the_user_page(backend: Backend) {
    let app = server(backend).await;
    app.admin().await;
    let ann = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "ann@example.com", "password": PASSWORD, "phone": "+1 415 555 0100"}),
        )
        .await;
    assert_eq!(ann.status(), 201);
    let ann: serde_json::Value = ann.json().await.expect("json");
    let ann = ann["id"].as_str().expect("id").to_owned();

    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    browser.go(&format!("/console/users/{ann}")).await;

    browser
        .fill("verify-email-reason", "called them back")
        .await;
    assert!(
        act(&browser, &ann, "verify-email")
            .await
            .contains("email address is marked verified")
    );
    browser.fill("verify-phone-reason", "read it to them").await;
    assert!(
        act(&browser, &ann, "verify-phone")
            .await
            .contains("phone number is marked verified")
    );
    assert!(
        facts(&browser)
            .await
            .contains("Phone number verified\nverified")
    );

    // Her REST session ends with the lock, recorded as the administrator's doing.
    app.login("ann@example.com", PASSWORD).await;
    browser.go(&format!("/console/users/{ann}")).await;
    browser.fill("lock-reason", "review").await;
    act(&browser, &ann, "lock").await;
    let revoked = app.events_of_type("SessionRevoked").await;
    let actor = &revoked.last().expect("a session revoked").metadata["actor"];
    assert_eq!(actor["kind"], "admin", "{actor}");
    assert!(act(&browser, &ann, "unlock").await.contains("unlocked"));
    assert!(facts(&browser).await.contains("not locked"));

    assert!(
        act(&browser, &ann, "deactivate")
            .await
            .contains("deactivated")
    );
    assert!(facts(&browser).await.contains("Status\ndeactivated"));
    assert!(
        act(&browser, &ann, "reactivate")
            .await
            .contains("active again")
    );
    assert!(
        act(&browser, &ann, "send-reset")
            .await
            .contains("reset link")
    );

    browser
        .fill("set-password", "an administrator's choice")
        .await;
    assert!(
        act(&browser, &ann, "set-password")
            .await
            .contains("password is set")
    );
    assert!(
        facts(&browser)
            .await
            .contains("Must choose a new password\nyes")
    );

    browser.click("#role-analyst").await;
    assert!(
        act(&browser, &ann, "roles")
            .await
            .contains("roles are saved")
    );
    assert!(facts(&browser).await.contains("analyst"));

    browser.click("#confirm-delete").await;
    assert!(act(&browser, &ann, "delete").await.contains("deleted"));
    assert!(facts(&browser).await.contains("Status\ndeleted"));
    assert!(act(&browser, &ann, "restore").await.contains("restored"));
    assert!(facts(&browser).await.contains("Status\nactive"));
    browser.assert_accessible().await;

    // The timeline has every step, the administrator as each one's actor.
    let timeline = browser.text("#timeline tbody").await;
    for event in [
        "EmailVerified",
        "PhoneVerified",
        "AccountLocked",
        "AccountUnlocked",
        "UserDeactivated",
        "UserReactivated",
        "PasswordResetRequested",
        "PasswordSet",
        "RoleGranted",
        "UserDeleted",
        "UserRestored",
    ] {
        let line = timeline
            .lines()
            .find(|line| line.contains(event))
            .unwrap_or_else(|| panic!("{event} in {timeline}"));
        assert!(line.contains(" admin "), "{line}");
    }
    browser.close().await;
}

test_both_backends!(every_account_action_works_from_the_user_page);

/// Creates a partner organization with a key that records both directions; answers its id and
/// the key.
async fn partner_with_key(app: &TestApp, admin: &str, name: &str, code: &str) -> (String, String) {
    let body = json!({"name": name, "partner": {
        "code": code, "communication": "api", "edi_format": "X12",
        "sender_id": format!("{code}S"), "receiver_id": format!("{code}R")
    }});
    let created = app
        .post_with_token("/api/v1/organizations", admin, &body)
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let key = app
        .post_with_token(
            &format!("/api/v1/organizations/{id}/api-keys"),
            admin,
            &json!({"name": "systems", "permissions": ["can_upload_files", "can_download_files"]}),
        )
        .await
        .json::<serde_json::Value>()
        .await
        .expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    (id, key)
}

async fn partners_transactions_are_charted_across_partners_and_for_one(backend: Backend) {
    let app = server(backend).await;
    let (_, admin) = app.admin().await;
    let (acme, acme_key) = partner_with_key(&app, &admin, "acme", "ACME001").await;
    let (globex, globex_key) = partner_with_key(&app, &admin, "globex", "GLOBEX1").await;
    for (key, organization, body) in [
        (
            &acme_key,
            acme.clone(),
            json!({"action": "transaction_sent", "status": "ok", "resource_id": "PO-1", "details": {"document_type": "850"}}),
        ),
        (
            &acme_key,
            acme.clone(),
            json!({"action": "transaction_sent", "status": "error", "resource_id": "PO-2"}),
        ),
        (
            &acme_key,
            acme.clone(),
            json!({"action": "transaction_received", "status": "ok", "resource_id": "INV-1"}),
        ),
        (
            &acme_key,
            acme.clone(),
            json!({"action": "file_uploaded", "details": {"filename": "orders.csv"}}),
        ),
        (
            &globex_key,
            globex.clone(),
            json!({"action": "transaction_sent", "status": "ok"}),
        ),
    ] {
        let recorded = app
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{organization}/partner-activity"),
                key,
                Some(body),
                &[],
            )
            .await;
        assert_eq!(recorded.status(), 201);
    }
    let head = app.head_position().await;
    app.projector
        .wait_for(
            head,
            &["partners", "directory"],
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("read models");

    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    browser.go("/console/users").await;
    browser
        .click("nav.console a[href='/console/partners']")
        .await;
    let figures = browser.text("#figures").await;
    assert!(
        figures.contains("Transactions sent\n3") && figures.contains("Success rate\n75.0 %"),
        "{figures}"
    );
    let partners = browser.text("#partners tbody").await;
    assert!(
        partners
            .lines()
            .next()
            .is_some_and(|line| line.contains("ACME001")),
        "{partners}"
    );
    assert!(browser.has("#chart-transactions").await);
    browser.assert_accessible().await;
    browser.screenshots("console-partners").await;
    // The action catalog: one defined, then retired once confirmed; built-in ones stay.
    browser.fill("action-name", "acknowledgment_received").await;
    choose(&browser, "action-direction", "received").await;
    browser.submit("#define-action").await;
    assert!(browser.text("p.notice").await.contains("defined"));
    let listed = browser.text("#action-list tbody").await;
    assert!(
        listed.contains("acknowledgment_received transaction received"),
        "{listed}"
    );
    assert!(!browser.has("#retire-action-transaction_sent").await);
    browser
        .click("#retire-action-acknowledgment_received")
        .await;
    browser
        .submit("form[action='/console/partner-actions/retire']:has(#retire-action-acknowledgment_received)")
        .await;
    assert!(browser.text("p.notice").await.contains("retired"));
    assert!(browser.text("#actions").await.contains("Retired"));
    browser.assert_accessible().await;
    // One partner: its figures, latest and failed transactions, and its file transfers.
    browser.click("#partners a").await;
    let failed = browser.text("#failed tbody").await;
    assert!(
        failed.contains("PO-2") && failed.contains("error"),
        "{failed}"
    );
    assert_eq!(browser.text("#recent tbody").await.lines().count(), 3);
    assert!(browser.text("#files tbody").await.contains("orders.csv"));
    browser.assert_accessible().await;
    // The organization's page links to it.
    browser.go(&format!("/console/organizations/{acme}")).await;
    browser.click("#transactions-link").await;
    assert!(browser.text("#recent tbody").await.contains("INV-1"));
    browser.close().await;
}

test_both_backends!(partners_transactions_are_charted_across_partners_and_for_one);

async fn administrators_block_and_unblock_addresses(backend: Backend) {
    let app = server(backend).await;
    app.admin().await;
    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    browser.go("/console/users").await;
    browser
        .click("nav.console a[href='/console/ip-blocks']")
        .await;
    assert!(
        browser
            .text("#blocks")
            .await
            .contains("No address is blocked")
    );
    browser.assert_accessible().await;
    // A range with a reason that is markup: shown as text.
    browser.fill("block-network", "198.51.100.7/24").await;
    browser.fill("block-reason", SCRIPT_NAME).await;
    browser.fill("block-hours", "24").await;
    browser.submit("#block-form").await;
    assert!(browser.text("p.notice").await.contains("in place"));
    let listed = browser.text("#block-list tbody").await;
    assert!(
        listed.contains("198.51.100.0/24")
            && listed.contains("In force")
            && listed.contains(SCRIPT_NAME),
        "{listed}"
    );
    browser.assert_accessible().await;
    browser.screenshots("console-ip-blocks").await;
    // What does not read as an address is refused on the form, which keeps what was typed.
    browser.fill("block-network", "198.51.100").await;
    browser.fill("block-reason", "scraping").await;
    browser.submit("#block-form").await;
    assert!(browser.text("#blocks p.error").await.contains("CIDR"));
    assert!(!browser.text("#block-list tbody").await.contains("scraping"));
    // Lifting a block asks to confirm first.
    browser
        .click("form[action='/console/ip-blocks/unblock'] input[name=confirm]")
        .await;
    browser
        .submit("form[action='/console/ip-blocks/unblock']")
        .await;
    assert!(browser.text("p.notice").await.contains("lifted"));
    assert!(
        browser
            .text("#blocks")
            .await
            .contains("No address is blocked")
    );
    // Blocking the browser's own address: its next sign-in is refused on the form.
    browser.fill("block-network", "127.0.0.1").await;
    browser.fill("block-reason", "testing the block").await;
    browser.submit("#block-form").await;
    assert!(
        browser
            .text("#block-list tbody")
            .await
            .contains("127.0.0.1/32")
    );
    // One browser at a time per test: the slots are shared by the tests running at once.
    browser.close().await;
    let stranger = Browser::open(&app).await;
    stranger.go("/sign-in").await;
    stranger.fill("login", "root@example.com").await;
    stranger
        .fill("password", "the administrator's passphrase")
        .await;
    stranger.submit("form[action='/sign-in']").await;
    assert!(
        stranger.text(".problem").await.contains("are blocked"),
        "{}",
        stranger.body().await
    );
    stranger.assert_accessible().await;
    stranger.close().await;
}

test_both_backends!(administrators_block_and_unblock_addresses);

async fn administrators_move_credits_and_people_see_their_balance(backend: Backend) {
    let app = server(backend).await;
    app.admin().await;
    let ann = person(&app, "ann@example.com", "Ann").await;
    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    // The wallet worker opens the wallet soon after the registration.
    for _ in 0..100 {
        browser.go(&format!("/console/users/{ann}")).await;
        if browser.has("#wallet").await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(browser.text("#wallet-balance").await, "0");
    browser.fill("credit-amount", "25").await;
    browser.fill("credit-reason", SCRIPT_NAME).await;
    browser.submit("#wallet-credit").await;
    assert!(browser.text("p.notice").await.contains("credited"));
    assert_eq!(browser.text("#wallet-balance").await, "25");
    let entries = browser.text("#wallet-entries tbody").await;
    assert!(
        entries.contains("+25") && entries.contains(SCRIPT_NAME),
        "{entries}"
    );
    browser.assert_accessible().await;
    browser.screenshots("console-user-wallet").await;
    // More than the balance: refused on the page, nothing moved.
    browser.fill("debit-amount", "26").await;
    browser.fill("debit-reason", "too much").await;
    browser.submit("#wallet-debit").await;
    assert!(
        browser
            .text(".problem")
            .await
            .contains("insufficient funds")
    );
    assert_eq!(browser.text("#wallet-balance").await, "25");
    browser.fill("freeze-reason", "dispute").await;
    browser.submit("#wallet-freeze").await;
    assert!(browser.text("#wallet").await.contains("frozen"));
    assert!(!browser.has("#wallet-credit").await);
    browser.close().await;
    // Ann sees her balance on her dashboard.
    let own = Browser::open(&app).await;
    sign_in(&own, "ann@example.com", PASSWORD).await;
    let balance = own.text("#wallet-balance").await;
    assert!(
        balance.contains("25 credits") && balance.contains("frozen"),
        "{balance}"
    );
    own.assert_accessible().await;
    own.close().await;
}

test_both_backends!(administrators_move_credits_and_people_see_their_balance);

async fn administrators_define_roles_and_set_role_profiles(backend: Backend) {
    let app = server(backend).await;
    app.admin().await;
    let sam = person(&app, "sam@example.com", "Sam").await;
    let browser = Browser::open(&app).await;
    sign_in_as_administrator(&browser).await;
    browser.go("/console/users").await;
    browser.click("nav.console a[href='/console/roles']").await;
    let catalog = browser.text("#role-list tbody").await;
    assert!(
        catalog.contains("admin") && catalog.contains("Built in"),
        "{catalog}"
    );
    browser.assert_accessible().await;
    // A role with profile fields; its name and fields shown as text.
    browser.fill("role-name", "student").await;
    browser
        .fill(
            "role-fields",
            "student_id:text:required\ndepartment:text:required:physics,chemistry\nyear:integer",
        )
        .await;
    browser.submit("#define-role").await;
    assert!(
        browser
            .text("p.notice")
            .await
            .contains("The role is defined")
    );
    let catalog = browser.text("#role-list tbody").await;
    assert!(
        catalog.contains("department:text:required:physics,chemistry"),
        "{catalog}"
    );
    browser.assert_accessible().await;
    browser.screenshots("console-roles").await;
    // A field the catalog cannot read is refused on the form, which keeps what was typed.
    browser.fill("role-name", "staff").await;
    browser.fill("role-fields", "position:rank").await;
    browser.submit("#define-role").await;
    assert!(browser.text("p.error").await.contains("position:rank"));
    assert!(!browser.text("#role-list tbody").await.contains("staff"));

    // Sam becomes a student; the profile card takes the role's fields.
    browser.go(&format!("/console/users/{sam}")).await;
    browser.click("#role-student").await;
    browser
        .submit(&format!("form[action='/console/users/{sam}/roles']"))
        .await;
    assert!(browser.text("p.notice").await.contains("roles are saved"));
    let profile_form = format!("form[action='/console/users/{sam}/role-profiles/student']");
    choose(&browser, "profile-student-department", "physics").await;
    browser.fill("profile-student-year", "2").await;
    browser.submit(&profile_form).await;
    assert!(
        browser.text(".problem").await.contains("is required"),
        "{}",
        browser.body().await
    );
    browser
        .fill("profile-student-student_id", SCRIPT_NAME)
        .await;
    choose(&browser, "profile-student-department", "physics").await;
    browser.fill("profile-student-year", "2").await;
    browser.submit(&profile_form).await;
    assert!(
        browser
            .text("p.notice")
            .await
            .contains("role profile is saved")
    );
    assert_eq!(
        browser
            .attribute("#profile-student-student_id", "value")
            .await
            .as_deref(),
        Some(SCRIPT_NAME)
    );
    browser.assert_accessible().await;
    browser
        .run("document.getElementById('role-profile-student').scrollIntoView()")
        .await;
    browser.screenshots("console-user-role-profile").await;
    // The role links to its holders.
    directory_caught_up(&app).await;
    browser.go("/console/roles").await;
    browser
        .click("#role-list a[href='/console/users?role=student']")
        .await;
    assert!(browser.text("main").await.contains("sam@example.com"));
    browser.close().await;
}

test_both_backends!(administrators_define_roles_and_set_role_profiles);
