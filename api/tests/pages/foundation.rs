//! The page foundation over plain HTTP: the session cookie and who accepts it, lifetimes and
//! the session limit, `next`, headers, error pages, and the rate limit's page.

use crate::accounts::PASSWORD;
use application::AuthSettings;
use application::rate_limit::RateLimitSettings;
use application::sessions::SessionSettings;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, TestApp, spawn_app_with};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

/// A client that keeps no cookies of its own and follows no redirects: what each answer says
/// is checked as it came.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The cookies an answer sets, as `name=value` pairs for a `Cookie` header.
fn cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| cookie.split(';').next())
        .map(str::to_owned)
        .collect()
}

/// The CSRF token of a page's first form.
fn csrf_token(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[start..].split('"').next().expect("token").to_owned()
}

/// A browser-like visitor: its cookie jar by hand.
struct Visitor {
    app_address: String,
    jar: Vec<String>,
    client: reqwest::Client,
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Self {
            app_address: app.address.clone(),
            jar: Vec::new(),
            client: client(),
        }
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for cookie in cookies(headers) {
            let name = cookie.split('=').next().unwrap_or_default().to_owned();
            self.jar
                .retain(|kept| !kept.starts_with(&format!("{name}=")));
            if !cookie.ends_with('=') {
                self.jar.push(cookie);
            }
        }
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self
            .client
            .get(format!("{}{path}", self.app_address))
            .header("cookie", self.jar.join("; "))
            .send()
            .await
            .expect("get");
        self.keep(response.headers());
        response
    }

    /// Posts a form from `page` (its token included) to `path`.
    async fn post(&mut self, page: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let html = self.get(page).await.text().await.expect("page");
        let token = csrf_token(&html);
        let mut form: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .client
            .post(format!("{}{path}", self.app_address))
            .header("cookie", self.jar.join("; "))
            .header("origin", &self.app_address)
            .form(&form)
            .send()
            .await
            .expect("post");
        self.keep(response.headers());
        response
    }

    async fn sign_in(&mut self, login: &str, password: &str) -> reqwest::Response {
        self.post(
            "/sign-in",
            "/sign-in",
            &[("login", login), ("password", password)],
        )
        .await
    }

    fn session_secret(&self) -> String {
        self.jar
            .iter()
            .find_map(|cookie| cookie.split_once("idlog_session="))
            .map(|(_, secret)| secret.to_owned())
            .expect("a session cookie")
    }
}

async fn app_with(backend: Backend, options: Options) -> TestApp {
    spawn_app_with(backend, options).await
}

async fn the_session_cookie_is_an_opaque_secret_only_pages_accept(backend: Backend) {
    let app = app_with(backend, Options::default()).await;
    app.register("ann@example.com", PASSWORD).await;
    let mut visitor = Visitor::new(&app);
    let signed_in = visitor.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    let set: Vec<String> = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().expect("ascii").to_owned())
        .collect();
    let session = set
        .iter()
        .find(|cookie| cookie.starts_with("idlog_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "http pages: {session}");
    let secret = visitor.session_secret();
    assert_eq!(secret.split('.').count(), 2, "not a JWT: {secret}");
    // Signed in, the sign-in page goes on to where it was asked to.
    let again = visitor.get("/sign-in?next=/account/security").await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()[LOCATION], "/account/security");
    assert!(
        set.iter().any(|cookie| cookie.starts_with("idlog_csrf=")),
        "a fresh CSRF cookie"
    );

    // The page session is listed like any other.
    let api = app.login("ann@example.com", PASSWORD).await;
    let access = api["access_token"].as_str().expect("token");
    let sessions: serde_json::Value = app
        .get_with_token("/api/v1/auth/sessions", access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");

    // REST takes bearer tokens only: not the cookie, not its secret as a token.
    let with_cookie = client()
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", format!("idlog_session={secret}"))
        .send()
        .await
        .expect("me");
    assert_eq!(with_cookie.status(), 401);
    let as_bearer = app.get_with_token("/api/v1/auth/me", &secret).await;
    assert_eq!(as_bearer.status(), 401);
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            &serde_json::json!({"refresh_token": secret}),
        )
        .await;
    assert_eq!(
        refreshed.status(),
        401,
        "a page session has no refresh token"
    );
    // Pages take the cookie only: a bearer token is a visitor without a session.
    let with_bearer = client()
        .get(app.url("/account"))
        .bearer_auth(access)
        .send()
        .await
        .expect("account");
    assert_eq!(with_bearer.status(), 303);
    assert_eq!(with_bearer.headers()[LOCATION], "/sign-in?next=%2Faccount");

    // Signing out ends the session in the log: the old cookie no longer opens a page.
    let stolen = secret.clone();
    let out = visitor.post("/account", "/sign-out", &[]).await;
    assert_eq!(out.status(), 303);
    let replayed = client()
        .get(app.url("/account"))
        .header("cookie", format!("idlog_session={stolen}"))
        .send()
        .await
        .expect("account");
    assert_eq!(replayed.status(), 303);
}

async fn over_https_the_cookies_are_secure_and_host_bound(backend: Backend) {
    let app = app_with(
        backend,
        Options {
            public_url: Some("https://id.example.com".into()),
            ..Options::default()
        },
    )
    .await;
    app.register("ann@example.com", PASSWORD).await;
    let page = client()
        .get(app.url("/sign-in"))
        .send()
        .await
        .expect("page");
    let csrf = page.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csrf.starts_with("__Host-idlog_csrf=") && csrf.contains("Secure"),
        "{csrf}"
    );
    let html = page.text().await.expect("html");
    let signed_in = client()
        .post(app.url("/sign-in"))
        .header("cookie", csrf.split(';').next().expect("pair"))
        .header("origin", "https://id.example.com")
        .form(&[
            ("csrf", csrf_token(&html).as_str()),
            ("login", "ann@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 303);
    let session = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().expect("ascii").to_owned())
        .find(|cookie| cookie.contains("idlog_session"))
        .expect("session cookie");
    assert!(session.starts_with("__Host-idlog_session="), "{session}");
    assert!(
        session.contains("Secure") && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Domain"), "{session}");
}

async fn sessions_expire_count_toward_the_limit_and_send_back_to_sign_in(backend: Backend) {
    let app = app_with(
        backend,
        Options {
            auth: AuthSettings {
                sessions: SessionSettings {
                    idle_timeout: domain::Duration::seconds(2),
                    max_per_user: Some(1),
                    ..SessionSettings::default()
                },
                ..AuthSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    app.register("ann@example.com", PASSWORD).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(visitor.get("/account/security").await.status(), 200);
    // Idle past the timeout: back to sign in, then back here.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let expired = visitor.get("/account/security?x=1").await;
    assert_eq!(expired.status(), 303);
    assert_eq!(
        expired.headers()[LOCATION],
        "/sign-in?next=%2Faccount%2Fsecurity%3Fx%3D1"
    );
    let again = visitor
        .post(
            "/sign-in",
            "/sign-in",
            &[
                ("login", "ann@example.com"),
                ("password", PASSWORD),
                ("next", "/account/security?x=1"),
            ],
        )
        .await;
    assert_eq!(again.headers()[LOCATION], "/account/security?x=1");
    // Somewhere else only ever leads to the dashboard.
    for elsewhere in ["https://evil.example/", "//evil.example", "/\\evil.example"] {
        let mut other = Visitor::new(&app);
        let answer = other
            .post(
                "/sign-in",
                "/sign-in",
                &[
                    ("login", "ann@example.com"),
                    ("password", PASSWORD),
                    ("next", elsewhere),
                ],
            )
            .await;
        assert_eq!(answer.headers()[LOCATION], "/account", "{elsewhere}");
    }
    // One session at most: a REST login replaces the page's.
    let mut page = Visitor::new(&app);
    page.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(page.get("/account").await.status(), 200);
    app.login("ann@example.com", PASSWORD).await;
    assert_eq!(page.get("/account").await.status(), 303);
}

async fn pages_carry_their_headers_and_errors_are_pages(backend: Backend) {
    let app = app_with(
        backend,
        Options {
            limits: RateLimitSettings {
                login_per_ip: Some(2),
                ..RateLimitSettings::unlimited()
            },
            ..Options::default()
        },
    )
    .await;
    let page = client()
        .get(app.url("/sign-in"))
        .send()
        .await
        .expect("page");
    let headers = page.headers();
    let policy = headers["content-security-policy"].to_str().expect("ascii");
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"));
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );

    let missing = client()
        .get(app.url("/no/such/page"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("page");
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .expect("html")
            .contains("<h1>Not found</h1>")
    );
    let missing = client()
        .get(app.url("/no/such/page"))
        .send()
        .await
        .expect("json");
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );

    // The rate limit: the page says how long to wait, with Retry-After.
    let mut visitor = Visitor::new(&app);
    let mut last = None;
    for _ in 0..4 {
        last = Some(
            visitor
                .sign_in("nobody@example.com", "wrong password")
                .await,
        );
    }
    let limited = last.expect("answers");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let html = limited.text().await.expect("html");
    assert!(
        html.contains("Try again in") || html.contains("wait"),
        "{html}"
    );

    // A form without its token is refused, from the right origin too.
    let mut visitor = Visitor::new(&app);
    visitor.get("/sign-in").await;
    let forged = client()
        .post(app.url("/sign-in"))
        .header("cookie", visitor.jar.join("; "))
        .header("origin", &app.address)
        .form(&[
            ("csrf", "forged"),
            ("login", "a@example.com"),
            ("password", "x"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
}

async fn the_dashboard_pages_through_activity_newest_first(backend: Backend) {
    let app = app_with(backend, Options::default()).await;
    app.register("ann@example.com", PASSWORD).await;
    // Six sign-ins, each from a kind of device not seen before: the first is the account's
    // beginning, the other five are news.
    for agent in [
        "agent-a/1",
        "agent-b/1",
        "agent-c/1",
        "agent-d/1",
        "agent-e/1",
        "agent-f/1",
    ] {
        let response = client()
            .post(app.url("/api/v1/auth/login"))
            .header("user-agent", agent)
            .json(&serde_json::json!({"login": "ann@example.com", "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200);
    }
    let mut visitor = Visitor::new(&app);
    visitor.sign_in("ann@example.com", PASSWORD).await;
    let head = app.head_position().await;
    let first = visitor
        .get(&format!("/account?min_position={head}"))
        .await
        .text()
        .await
        .expect("page");
    let rows = |html: &str| html.matches("<tr><td><time").count();
    assert_eq!(rows(&first), 10, "a page of ten");
    let notifications = first
        .split("id=\"notifications\"")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .expect("notifications");
    assert_eq!(notifications.matches("<li>").count(), 5, "{notifications}");
    assert!(
        !notifications.contains("agent-a/1"),
        "the first device is no news"
    );
    // Older pages follow, each through the link the page before gave, down to the sign-up.
    let mut page = first.clone();
    let mut pages = 1;
    while let Some(start) = page.find("/account?cursor=") {
        let cursor: String = page[start + 16..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert!(!cursor.is_empty());
        page = visitor
            .get(&format!("/account?cursor={cursor}"))
            .await
            .text()
            .await
            .expect("page");
        assert!(rows(&page) >= 1, "older activity follows");
        pages += 1;
        assert!(pages < 10, "the pages end");
    }
    assert!(pages >= 2);
    assert!(page.contains("Signed up"), "the oldest is the sign-up");
    assert!(!first.contains("Signed up"));
    // A cursor this server did not give out is a page that says so, not a failure.
    let bad = visitor.get("/account?cursor=x").await;
    assert_eq!(bad.status(), 400);
}

test_both_backends!(
    the_dashboard_pages_through_activity_newest_first,
    the_session_cookie_is_an_opaque_secret_only_pages_accept,
    over_https_the_cookies_are_secure_and_host_bound,
    sessions_expire_count_toward_the_limit_and_send_back_to_sign_in,
    pages_carry_their_headers_and_errors_are_pages,
);
