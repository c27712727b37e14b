//! Error pages: what REST would answer as problem+json, as a page (403, 404, 429 with the wait,
//! 500). The mapping from [`AppError`] is REST's own, so both front ends say the same.

use super::render::{self, Chrome};
use super::texts::ENGLISH;
use crate::problem::Problem;
use application::AppError;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a page was not shown.
#[derive(Debug)]
pub enum PageError {
    /// No usable session: sign in, then go to `next`.
    SignIn {
        /// The page asked for.
        next: Option<String>,
    },
    /// A state-changing request from another site, or without its form token.
    CrossSite,
    /// A form that does not read.
    BadForm,
    /// What a use case answered, as REST maps it.
    Problem(Problem),
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self::Problem(Problem::from(error))
    }
}

impl From<Problem> for PageError {
    fn from(problem: Problem) -> Self {
        Self::Problem(problem)
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    title: String,
    detail: String,
    /// For a 429: how long to wait, in words.
    wait: Option<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = &ENGLISH;
        let problem = match self {
            Self::SignIn { next } => {
                let query = next
                    .as_deref()
                    .filter(|next| *next != "/")
                    .and_then(|next| serde_urlencoded::to_string([("next", next)]).ok());
                let target = match query {
                    Some(query) => format!("/sign-in?{query}"),
                    None => "/sign-in".to_owned(),
                };
                return render::see_other(&target);
            }
            Self::CrossSite => {
                Problem::new(StatusCode::FORBIDDEN, "cross-site", t.cross_site_title)
                    .with_detail(t.cross_site_detail)
            }
            Self::BadForm => Problem::new(StatusCode::BAD_REQUEST, "bad-form", t.bad_form_title)
                .with_detail(t.bad_form_detail),
            Self::Problem(problem) => problem,
        };
        error_page(problem)
    }
}

/// `problem` as a page, with its headers (`Retry-After`).
pub fn error_page(problem: Problem) -> Response {
    let t = &ENGLISH;
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let wait = problem
        .headers
        .as_ref()
        .and_then(|headers| headers.get(header::RETRY_AFTER))
        .and_then(|value| value.to_str().ok())
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .map(|seconds| t.wait(seconds));
    // Pages name 5xx without the server's words (REST's detail speaks of headers).
    let detail = if status.is_server_error() {
        t.server_error_detail.to_owned()
    } else {
        problem.detail_text().into_owned()
    };
    let page = ErrorPage {
        c: Chrome::anonymous(String::new()),
        status: status.as_u16(),
        title: problem.title.clone(),
        detail,
        wait,
    };
    render::refused(problem, &page)
}

/// The answer for an address nothing is at: a page for a browser (it asks for HTML), problem+json
/// for everyone else.
pub async fn not_found(headers: axum::http::HeaderMap) -> Response {
    let problem = Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found")
        .with_detail("There is nothing at this address.");
    if wants_html(&headers) {
        error_page(problem)
    } else {
        problem.into_response()
    }
}

/// Whether the client asks for HTML first (a browser navigating), rather than JSON.
pub fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.starts_with("text/html"))
}

/// A problem in one sentence for a form: its field errors' words when it has them (without the
/// JSON pointers REST names fields by), else its detail.
pub fn problem_text(problem: &Problem) -> String {
    if problem.errors.is_empty() {
        return problem.detail_text().into_owned();
    }
    problem
        .errors
        .iter()
        .map(|error| format!("{}: {}", field_label(&error.pointer), error.detail))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A JSON pointer as a form names its field: `/new_password` is "New password".
fn field_label(pointer: &str) -> String {
    let words = pointer.trim_start_matches('/').replace(['_', '/'], " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn a_server_error_page_says_nothing_of_the_server() {
        let problem = Problem::internal(&std::io::Error::other("disk /var/lib/secret full"));
        let response = error_page(problem);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let html = body(response).await;
        assert!(html.contains("Something went wrong on our side"), "{html}");
        assert!(
            !html.contains("secret") && !html.contains("X-Request-Id"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn a_rate_limited_page_says_how_long_to_wait_and_keeps_retry_after() {
        let response = error_page(Problem::too_many_requests(90));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "90");
        let html = body(response).await;
        assert!(html.contains("Please wait 90 seconds"), "{html}");
    }

    #[tokio::test]
    async fn a_refusal_of_the_policy_is_a_forbidden_page() {
        let response = PageError::CrossSite.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(body(response).await.contains("<h1>Request refused</h1>"));
    }
}
