//! Rendering: the chrome every page shares, times, and turning a template into a response.

use super::texts::{ENGLISH, Texts};
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use domain::Timestamp;

/// What every page shows around its content: texts, the form token, who is signed in, and a
/// message about what just happened.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The texts, in the page's language.
    pub t: &'static Texts,
    /// The CSRF token every form carries.
    pub csrf: String,
    /// The signed-in person, if any.
    pub person: Option<Person>,
    /// A message about what the last request did.
    pub notice: Option<&'static str>,
}

/// The signed-in person as the navigation shows them.
#[derive(Debug, Clone)]
pub struct Person {
    /// How to call them: their name, else their email address.
    pub name: String,
}

impl Chrome {
    /// The chrome of an anonymous page.
    pub fn anonymous(csrf: String) -> Self {
        Self {
            t: &ENGLISH,
            csrf,
            person: None,
            notice: None,
        }
    }

    /// The chrome with `notice` shown.
    pub fn with_notice(mut self, notice: Option<&'static str>) -> Self {
        self.notice = notice;
        self
    }
}

/// A time as pages show it: in UTC, named so, until the page's script rewrites it in the
/// viewer's own time zone (named too).
#[derive(Debug, Clone)]
pub struct When {
    /// RFC 3339, for the `datetime` attribute.
    pub iso: String,
    /// `2026-12-06 09:30 UTC`.
    pub text: String,
}

impl When {
    /// `at` as a page shows it.
    pub fn new(at: Timestamp) -> Self {
        Self {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            text: at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// A rendered page: HTML, with the status given.
pub fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(ENGLISH.error_render.to_owned()),
            )
                .into_response()
        }
    }
}

/// A 200 page.
pub fn ok(template: &impl Template) -> Response {
    page(StatusCode::OK, template)
}

/// A "303 See Other" to a path of idlog's (after a form was handled).
pub fn see_other(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `next` if it is a path on this site (`/account`), else the dashboard: a sign-in never sends
/// anyone elsewhere.
pub fn same_origin_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path
        }
        _ => "/account",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(
            same_origin_path(Some("/account/security")),
            "/account/security"
        );
        assert_eq!(same_origin_path(Some("/account?x=1")), "/account?x=1");
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/\\/evil.example",
            "javascript:alert(1)",
            "/a\nb",
            "",
        ] {
            assert_eq!(
                same_origin_path(Some(elsewhere)),
                "/account",
                "{elsewhere:?}"
            );
        }
        assert_eq!(same_origin_path(None), "/account");
    }
}

/// A user agent in a few words ("Firefox on Linux"), as a person recognizes their device.
pub fn describe_agent(agent: &str) -> String {
    // Order matters: Edge and Opera say Chrome, Chrome says Safari, Android says Linux.
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(mark, _)| agent.contains(mark))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(mark, _)| agent.contains(mark))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => system.to_owned(),
        (None, None) => agent.chars().take(40).collect(),
    }
}

#[cfg(test)]
mod agent_tests {
    use super::describe_agent;

    #[test]
    fn names_common_browsers_and_systems() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_agent(firefox), "Firefox on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                    Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(describe_agent(edge), "Edge on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_agent(iphone), "Safari on iPhone");
        assert_eq!(describe_agent("curl/8.5.0"), "curl");
    }
}

/// A page shown for a refused request: the status `problem` has, with its headers
/// (`Retry-After` for a rate limit).
pub fn refused(mut problem: crate::problem::Problem, template: &impl Template) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = page(status, template);
    if let Some(headers) = problem.headers.take() {
        for (name, value) in headers.iter() {
            if name != header::CONTENT_TYPE {
                response.headers_mut().insert(name, value.clone());
            }
        }
    }
    response
}
