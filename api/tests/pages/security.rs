//! Two-factor sign-in, sessions, a forgotten password, the forced change of a temporary
//! password, and refused cross-site posts.

use crate::accounts::{PASSWORD, server, sign_in};
use crate::browser::{Browser, email, link};
use application::credentials::totp;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use serde_json::json;

/// The authenticator's code for a base32 secret, `offset` steps from now.
fn code(secret: &str, offset: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret.trim().as_bytes())
        .expect("base32");
    let step = totp::step_of(chrono::Utc::now().timestamp()).saturating_add_signed(offset);
    totp::code_at(&secret, step)
}

async fn two_factor_is_turned_on_and_then_asked_for_at_sign_in(backend: Backend) {
    let app = server(backend).await;
    app.register("ann@example.com", PASSWORD).await;
    let browser = Browser::open(&app).await;
    sign_in(&browser, "ann@example.com", PASSWORD).await;
    browser.go("/account/security").await;
    browser.assert_accessible().await;
    browser.screenshots("security").await;
    browser
        .submit("form[action='/account/security/totp']")
        .await;
    let qr = browser
        .attribute(".qr img", "src")
        .await
        .unwrap_or_default();
    assert!(
        qr.starts_with("data:image/svg+xml;base64,"),
        "the QR code is an SVG: {qr}"
    );
    browser.assert_accessible().await;
    browser.screenshots("two-factor").await;
    let secret = browser.text("#totp-secret").await;
    browser.fill("code", "000000").await;
    browser
        .submit("form[action='/account/security/totp/confirm']")
        .await;
    assert!(
        browser
            .body()
            .await
            .contains("not the code your authenticator shows")
    );
    assert_eq!(
        browser.text("#totp-secret").await,
        secret,
        "the same enrolment"
    );
    browser.fill("code", &code(&secret, 0)).await;
    browser
        .submit("form[action='/account/security/totp/confirm']")
        .await;
    assert_eq!(browser.text("h1").await, "Your recovery codes");
    let told = email(&app, "ann@example.com", "two_factor_changed").await;
    assert!(told.contains("turned on"), "{told}");
    let codes = browser.text("#recovery-codes").await;
    assert_eq!(codes.lines().count(), 10, "{codes}");
    browser.assert_accessible().await;
    browser.screenshots("recovery-codes").await;

    browser.submit("header form[action='/sign-out']").await;
    assert!(browser.body().await.contains("You are signed out."));
    browser.go("/account").await;
    assert!(
        browser.path().await.starts_with("/sign-in"),
        "signed out means signed out"
    );

    browser.fill("login", "ann@example.com").await;
    browser.fill("password", PASSWORD).await;
    browser.submit("form[action='/sign-in']").await;
    assert_eq!(browser.text("h1").await, "Two-step verification");
    browser.assert_accessible().await;
    browser.screenshots("sign-in-code").await;
    // The code used to turn it on was spent: the next step's code is accepted.
    browser.fill("code", &code(&secret, 1)).await;
    browser.submit("form[action='/sign-in/code']").await;
    browser.find("#status-heading").await;
    let status = browser.text("dl.facts").await;
    assert!(status.contains("Two-factor authentication\non"), "{status}");

    // A recovery code signs in once, and the person is told.
    let recovery = codes.lines().next().expect("a code").trim().to_owned();
    browser.submit("header form[action='/sign-out']").await;
    browser.go("/sign-in").await;
    browser.fill("login", "ann@example.com").await;
    browser.fill("password", PASSWORD).await;
    browser.submit("form[action='/sign-in']").await;
    browser.fill("recovery_code", &recovery).await;
    browser.submit("form[action='/sign-in/code']").await;
    browser.find("#status-heading").await;
    let told = email(&app, "ann@example.com", "recovery_code_used").await;
    assert!(told.contains("9 of your recovery codes remain"), "{told}");
    browser.close().await;
}

async fn sessions_are_listed_and_revoked_and_sign_out_everywhere_ends_them(backend: Backend) {
    let app = server(backend).await;
    app.register("ann@example.com", PASSWORD).await;
    // Another session, from the API.
    let api = app.login("ann@example.com", PASSWORD).await;
    let access = api["access_token"].as_str().expect("token").to_owned();
    let browser = Browser::open(&app).await;
    sign_in(&browser, "ann@example.com", PASSWORD).await;
    browser.go("/account/security").await;
    let rows = browser.text("table tbody").await;
    assert_eq!(rows.lines().count(), 2, "{rows}");
    assert!(rows.contains("this browser"), "{rows}");
    // The API session (the row without "this browser") is revoked from the page.
    let other = browser
        .find("tbody tr:not(:has(.badge)) form")
        .await
        .attr("action")
        .await
        .expect("action")
        .expect("a form");
    browser.submit(&format!("form[action='{other}']")).await;
    assert!(browser.body().await.contains("That session is signed out."));
    let me = app.get_with_token("/api/v1/auth/me", &access).await;
    assert_eq!(
        me.status(),
        401,
        "the revoked session's token stops working"
    );
    browser
        .submit("form[action='/account/sessions/sign-out-everywhere']")
        .await;
    assert!(browser.body().await.contains("signed out everywhere"));
    browser.go("/account").await;
    assert!(browser.path().await.starts_with("/sign-in"));
    browser.close().await;
}

async fn a_forgotten_password_is_reset_from_the_emailed_link(backend: Backend) {
    let app = server(backend).await;
    app.register("ann@example.com", PASSWORD).await;
    let browser = Browser::open(&app).await;
    browser.go("/forgot-password").await;
    browser.assert_accessible().await;
    browser.fill("email", "ann@example.com").await;
    browser.submit("form[action='/forgot-password']").await;
    assert_eq!(browser.text("h1").await, "Check your email");
    let message = email(&app, "ann@example.com", "password_reset").await;
    browser
        .go(&link(
            &message,
            &format!("{}/reset-password?token=", app.address),
        ))
        .await;
    browser.assert_accessible().await;
    browser.fill("new_password", "password").await;
    browser.submit("form[action='/reset-password']").await;
    assert!(browser.body().await.contains("most common passwords"));
    browser
        .fill("new_password", "a new and long passphrase")
        .await;
    browser.submit("form[action='/reset-password']").await;
    assert!(browser.body().await.contains("Your new password is set."));
    sign_in(&browser, "ann@example.com", "a new and long passphrase").await;
    browser.close().await;
}

async fn a_temporary_password_is_changed_at_the_first_sign_in(backend: Backend) {
    let app = server(backend).await;
    let (_, admin) = app.admin().await;
    let created = app
        .post_with_token(
            "/api/v1/users",
            &admin,
            &json!({"email": "cy@example.com", "password": "temporary passphrase 1",
                    "temporary_password": true}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let browser = Browser::open(&app).await;
    browser.go("/sign-in").await;
    browser.fill("login", "cy@example.com").await;
    browser.fill("password", "temporary passphrase 1").await;
    browser.submit("form[action='/sign-in']").await;
    assert_eq!(browser.text("h1").await, "Choose a new password");
    browser.assert_accessible().await;
    browser.fill("new_password", "my very own passphrase").await;
    browser.submit("form[action='/sign-in/new-password']").await;
    assert!(browser.body().await.contains("Your new password is set."));
    sign_in(&browser, "cy@example.com", "my very own passphrase").await;
    browser.close().await;
}

async fn a_form_posted_from_another_site_is_refused(backend: Backend) {
    let app = server(backend).await;
    app.register("ann@example.com", PASSWORD).await;
    let browser = Browser::open(&app).await;
    sign_in(&browser, "ann@example.com", PASSWORD).await;
    // A page elsewhere posting to idlog's sign-out: its Origin is not idlog's, and it has no
    // form token.
    let attack = format!(
        "data:text/html,<form method=post action='{}/account/sessions/sign-out-everywhere'>\
         <input type=hidden name=csrf value=guess><button type=submit>win</button></form>",
        app.address
    );
    browser.go(&attack).await;
    browser.submit("form").await;
    assert_eq!(browser.text("h1").await, "Request refused");
    browser.go("/account").await;
    assert_eq!(browser.path().await, "/account", "still signed in");
    // The same form without its token, from idlog's own page, is refused too.
    browser.go("/account/security").await;
    browser
        .run("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');")
        .await;
    browser
        .submit("form[action='/account/sessions/sign-out-everywhere']")
        .await;
    assert_eq!(browser.text("h1").await, "Request refused");
    browser.close().await;
}

async fn a_new_device_and_security_changes_are_notified_and_emailed(backend: Backend) {
    // The test GeoIP database places loopback in Sweden.
    let geoip = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../application/tests/data/geoip-test.mmdb");
    let app = idlog::testing::spawn_app_with(
        backend,
        idlog::testing::Options {
            messages: true,
            geoip_database: Some(geoip),
            ..idlog::testing::Options::default()
        },
    )
    .await;
    app.register("ann@example.com", PASSWORD).await;
    let browser = Browser::open(&app).await;
    // The first device is the account's beginning: nothing to tell.
    sign_in(&browser, "ann@example.com", PASSWORD).await;
    assert!(browser.body().await.contains("Nothing to tell you about."));
    // A sign-in from another kind of device (the tests' HTTP client).
    app.login("ann@example.com", PASSWORD).await;
    let message = email(&app, "ann@example.com", "new_device").await;
    assert!(message.contains("idlog-tests/1.0"), "{message}");
    assert!(
        message.contains("127.0.0.1"),
        "the place is the address: {message}"
    );
    // A security change: the password.
    browser.go("/account/security").await;
    browser.fill("current_password", PASSWORD).await;
    browser
        .fill("new_password", "another long passphrase")
        .await;
    browser.click("#end_other_sessions").await;
    browser
        .submit("form[action='/account/security/password']")
        .await;
    assert!(browser.body().await.contains("Your password is changed."));
    email(&app, "ann@example.com", "password_changed").await;
    let devices = browser.text("#devices").await;
    assert!(
        devices.contains("Headless Chrome on Linux") && devices.contains("idlog-tests/1.0"),
        "{devices}"
    );
    assert!(devices.contains("127.0.0.1 (Sweden)"), "{devices}");
    let position = app.head_position().await;
    app.projector
        .wait_for(position, &["activity"], std::time::Duration::from_secs(10))
        .await
        .expect("read models");
    browser.go("/account").await;
    let notifications = browser.text("#notifications").await;
    let lines: Vec<&str> = notifications.lines().collect();
    assert_eq!(lines.len(), 2, "{notifications}");
    assert!(
        lines[0].starts_with("Your password was changed"),
        "{notifications}"
    );
    assert!(
        lines[1].contains(
            "Signed in from a device not used on this account before: idlog-tests/1.0, from \
             127.0.0.1 (Sweden)"
        ),
        "{notifications}"
    );
    browser.assert_accessible().await;
    browser.close().await;
}

/// The accessibility check is not vacuous: a page with an unlabelled input and a button without
/// a name fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accessibility_check_finds_what_a_careless_page_gets_wrong() {
    let app = server(Backend::Sqlite).await;
    let browser = Browser::open(&app).await;
    browser
        .go("data:text/html,<title>t</title><input type=text><button></button>")
        .await;
    let findings = browser.accessibility_findings().await;
    let ids: Vec<&str> = findings
        .iter()
        .filter_map(|finding| finding["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"label") && ids.contains(&"button-name"),
        "{ids:?}"
    );
    browser.close().await;
}

test_both_backends!(
    a_new_device_and_security_changes_are_notified_and_emailed,
    two_factor_is_turned_on_and_then_asked_for_at_sign_in,
    sessions_are_listed_and_revoked_and_sign_out_everywhere_ends_them,
    a_forgotten_password_is_reset_from_the_emailed_link,
    a_temporary_password_is_changed_at_the_first_sign_in,
    a_form_posted_from_another_site_is_refused,
);
