//! Signing up, verifying the email address and the phone, names that look like markup, the
//! profile with a picture, and accepting an invitation.

use crate::browser::{Browser, email, link, sms_code};
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use serde_json::json;

pub const PASSWORD: &str = "correct horse battery staple";
/// Names a page must show as text, never run.
pub const SCRIPT_NAME: &str = "<script>alert(1)</script>";
pub const ATTRIBUTE_NAME: &str = "\"><img src=x onerror=alert(2)>";

/// A test server that sends its emails and text messages as files.
pub async fn server(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            messages: true,
            ..Options::default()
        },
    )
    .await
}

/// Signs in on the sign-in page; ends on the dashboard.
pub async fn sign_in(browser: &Browser, login: &str, password: &str) {
    browser.go("/sign-in").await;
    browser.fill("login", login).await;
    browser.fill("password", password).await;
    browser.submit("form[action='/sign-in']").await;
    browser.find("#status-heading").await;
}

async fn signing_up_and_opening_the_emailed_link_verifies_the_address(backend: Backend) {
    let app = server(backend).await;
    let browser = Browser::open(&app).await;
    browser.go("/sign-up").await;
    browser.assert_accessible().await;
    browser.screenshots("sign-up").await;
    browser.fill("email", "ann@example.com").await;
    browser.fill("phone", "+1 415 555 0100").await;
    browser.fill("first_name", SCRIPT_NAME).await;
    browser.fill("last_name", ATTRIBUTE_NAME).await;
    browser.fill("password", PASSWORD).await;
    browser.submit("form[action='/sign-up']").await;
    assert_eq!(browser.text("h1").await, "Check your email");
    browser.assert_accessible().await;

    let welcome = email(&app, "ann@example.com", "welcome").await;
    let verification = link(&welcome, &format!("{}/verify-email?token=", app.address));
    browser.go(&verification).await;
    assert_eq!(browser.text("h1").await, "Email address verified");
    browser.assert_accessible().await;
    browser.screenshots("email-verified").await;
    browser.go(&verification).await;
    assert_eq!(browser.text("h1").await, "Already verified");

    sign_in(&browser, "ann@example.com", PASSWORD).await;
    assert_eq!(browser.path().await, "/account");
    let status = browser.text("dl.facts").await;
    assert!(status.contains("ann@example.com verified"), "{status}");
    browser.assert_accessible().await;
    browser.screenshots("dashboard").await;

    // The names render as the text typed, wherever they are shown.
    for page in [
        "/account",
        "/account/profile",
        "/account/security",
        "/account/phone",
        "/account/invitations",
        "/account/privacy",
    ] {
        browser.go(page).await;
        browser.assert_no_dialog().await;
        assert_eq!(browser.text(".person").await, SCRIPT_NAME, "{page}");
        assert!(
            !browser.has("img[src=x]").await,
            "{page} holds an injected image"
        );
        browser.assert_accessible().await;
    }
    browser.go("/account/profile").await;
    assert_eq!(
        browser.attribute("#last_name", "value").await.as_deref(),
        Some(ATTRIBUTE_NAME)
    );
    assert!(browser.text("h1").await.starts_with("Profile"));

    // The phone: a code by text message, typed in.
    browser.go("/account/phone").await;
    browser.submit("form[action='/account/phone/send']").await;
    assert!(browser.body().await.contains("A code is on its way"));
    browser.assert_accessible().await;
    browser.screenshots("phone").await;
    let code = sms_code(&app, "+14155550100", None).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    browser.fill("code", wrong).await;
    browser.submit("form[action='/account/phone']").await;
    assert!(
        browser.body().await.contains("tries are left"),
        "a wrong code says so"
    );
    browser.fill("code", &code).await;
    browser.submit("form[action='/account/phone']").await;
    assert!(
        browser
            .body()
            .await
            .contains("Your phone number is verified.")
    );
    let status = browser.text("dl.facts").await;
    assert!(status.contains("+14155550100 verified"), "{status}");
    browser.close().await;
}

async fn a_profile_is_edited_and_a_picture_uploaded_with_a_preview(backend: Backend) {
    let app = server(backend).await;
    app.register("bo@example.com", PASSWORD).await;
    let browser = Browser::open(&app).await;
    sign_in(&browser, "bo@example.com", PASSWORD).await;
    browser.go("/account/profile").await;
    browser.fill("first_name", "Bo").await;
    browser.fill("last_name", "Berg").await;
    browser.fill("username", "bo_berg").await;
    browser.submit("form[action='/account/profile']").await;
    assert!(browser.body().await.contains("Your details are saved."));
    assert_eq!(browser.text(".person").await, "Bo");
    browser.fill("city", "Lund").await;
    browser.fill("line1", "Storgatan 1").await;
    browser.fill("country", "SE").await;
    browser.fill("language", "sv").await;
    browser
        .submit("form[action='/account/profile/preferences']")
        .await;
    assert!(
        browser
            .body()
            .await
            .contains("Your address and preferences are saved.")
    );
    assert_eq!(
        browser.attribute("#city", "value").await.as_deref(),
        Some("Lund")
    );

    let folder = tempfile::tempdir().expect("folder");
    let path = folder.path().join("bo.png");
    image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8 * 2, y as u8 * 3, 128]))
        .save(&path)
        .expect("picture written");
    let input = browser.find("#picture").await;
    input
        .send_keys(&path.to_string_lossy())
        .await
        .expect("file chosen");
    let preview = browser
        .attribute("#picture-preview", "src")
        .await
        .unwrap_or_default();
    assert!(
        preview.starts_with("blob:"),
        "a preview shows before upload: {preview}"
    );
    browser.assert_accessible().await;
    browser
        .submit("form[action='/account/profile/picture/upload']")
        .await;
    assert!(browser.body().await.contains("Your picture is saved."));
    let shown = browser
        .attribute("#picture-preview", "src")
        .await
        .unwrap_or_default();
    assert!(
        shown.contains("/account/profile/picture?size=256"),
        "{shown}"
    );
    browser.find("#picture-preview").await;
    let loaded = browser
        .run("return document.getElementById('picture-preview').naturalWidth;")
        .await;
    assert_eq!(loaded, json!(96), "the stored picture is served");
    browser.assert_accessible().await;
    browser.screenshots("profile").await;
    browser.close().await;
}

async fn an_invitation_is_accepted_on_its_page(backend: Backend) {
    let app = server(backend).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let created = app
        .post_with_token(
            "/api/v1/organizations",
            &admin,
            &json!({"name": "Acme <Labs>"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let organization: serde_json::Value = created.json().await.expect("json");
    let organization = organization["id"].as_str().expect("id").to_owned();
    let invited = app
        .post_with_token(
            &format!("/api/v1/organizations/{organization}/invitations"),
            &admin,
            &json!({"user_id": ann, "role": "member"}),
        )
        .await;
    assert_eq!(invited.status(), 201);

    let browser = Browser::open(&app).await;
    // The link in the invitation email leads to sign in, then to the invitations.
    let message = email(&app, "ann@example.com", "organization_invitation").await;
    let invitations = link(&message, &format!("{}/account/invitations", app.address));
    browser.go(&invitations).await;
    assert!(browser.path().await.starts_with("/sign-in?next="));
    browser.fill("login", "ann@example.com").await;
    browser.fill("password", PASSWORD).await;
    browser.submit("form[action='/sign-in']").await;
    assert_eq!(browser.text("h2").await, "Acme <Labs>");
    assert_eq!(browser.path().await, "/account/invitations");
    browser.assert_accessible().await;
    browser.screenshots("invitations").await;
    browser
        .submit(&format!(
            "form[action='/account/invitations/{organization}/accept']"
        ))
        .await;
    assert!(browser.body().await.contains("you are a member now"));
    let members = app
        .get_with_token(
            &format!(
                "/api/v1/organizations/{organization}/members?min_position={}",
                app.head_position().await
            ),
            &admin,
        )
        .await;
    let members: serde_json::Value = members.json().await.expect("json");
    assert!(members.to_string().contains(&ann), "{members}");
    browser.close().await;
}

test_both_backends!(
    signing_up_and_opening_the_emailed_link_verifies_the_address,
    a_profile_is_edited_and_a_picture_uploaded_with_a_preview,
    an_invitation_is_accepted_on_its_page,
);
