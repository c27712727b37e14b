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
    /// The console's sections the policy lets them into: (path, label), in order.
    pub console: Vec<(&'static str, &'static str)>,
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

/// A user agent in a few words ("Firefox on Linux"), as a person recognizes their device.
pub fn describe_agent(agent: &str) -> String {
    domain::values::DeviceKind::of_user_agent(agent).to_string()
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
