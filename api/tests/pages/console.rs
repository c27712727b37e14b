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
    let head = app.head_position().await;
    app.projector
        .wait_for(head, &["directory"], std::time::Duration::from_secs(10))
        .await
        .expect("read models");

    // The administrator: everyone, the names as typed.
    let browser = Browser::open(&app).await;
    sign_in(
        &browser,
        "root@example.com",
        "the administrator's passphrase",
    )
    .await;
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
    browser.submit("form[action='/console/users']").await;
    let found = browser.text("#users tbody").await;
    assert_eq!(found.lines().count(), 1, "{found}");
    assert!(found.contains("cy@example.com"));
    // The activity log: everything, filtered by action, downloadable.
    browser
        .click("nav.console a[href='/console/activity']")
        .await;
    let log = browser.text("#activity tbody").await;
    assert!(log.contains("MemberAdded") && log.contains(&cy), "{log}");
    browser.assert_accessible().await;
    browser.screenshots("console-activity").await;
    browser.fill("action", "UserRegistered").await;
    browser.submit("form[action='/console/activity']").await;
    let registered = browser.text("#activity tbody").await;
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
