//! RFC 9457 problem details: the one shape every error takes over HTTP.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Problem `type` URIs are this prefix plus a stable slug, e.g. `urn:idlog:problem:not-found`.
pub const TYPE_PREFIX: &str = "urn:idlog:problem:";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a JSON pointer into the request body (e.g. `/email`).
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

/// An RFC 9457 problem. Every document carries `type`, `title`, `status` and `detail` (see
/// [`Problem::detail_text`]).
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:idlog:problem:validation")]
    pub problem_type: String,
    /// A short, stable summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time.
    #[schema(value_type = String, required = true)]
    pub detail: Option<String>,
    /// Field-level validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    /// Headers that go with the answer (`Retry-After`, `WWW-Authenticate`).
    /// (Boxed: most problems have none, and every `Result<_, Problem>` carries the size.)
    #[serde(skip)]
    pub headers: Option<Box<HeaderMap>>,
}

impl Problem {
    /// What happened this time: the detail given, else the invalid fields in one line, else
    /// the title. No document leaves without one.
    pub fn detail_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.detail {
            Some(detail) => detail.as_str().into(),
            None if !self.errors.is_empty() => self
                .errors
                .iter()
                .map(|error| format!("{}: {}", error.pointer, error.detail))
                .collect::<Vec<_>>()
                .join("; ")
                .into(),
            None => self.title.as_str().into(),
        }
    }
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Document<'a> {
            #[serde(rename = "type")]
            problem_type: &'a str,
            title: &'a str,
            status: u16,
            detail: std::borrow::Cow<'a, str>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            errors: &'a [FieldError],
        }
        Document {
            problem_type: &self.problem_type,
            title: &self.title,
            status: self.status,
            detail: self.detail_text(),
            errors: &self.errors,
        }
        .serialize(serializer)
    }
}

/// The problem as one line, for the command line.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{}: {detail}", self.title)?,
            None => f.write_str(&self.title)?,
        }
        for error in &self.errors {
            write!(f, "; {}", error.detail)?;
        }
        Ok(())
    }
}

impl Problem {
    /// A problem of kind `slug` with `title`.
    pub fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        Self {
            problem_type: format!("{TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            headers: None,
        }
    }

    /// Adds a header to the answer.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.get_or_insert_default().append(name, value);
        self
    }

    /// 401 for a missing, invalid, expired or revoked access or refresh token. Which one it was
    /// is logged, not told.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "Invalid or expired token",
        )
        .with_detail("Log in again, or refresh the session if it is still open.")
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        )
        .with_detail(format!("Try again in {retry_after_seconds} seconds."))
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds))
    }

    /// Adds what happened.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a field error.
    pub fn with_field(mut self, pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        });
        self
    }

    /// 503: a dependency is down.
    pub fn unavailable(detail: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .with_detail(detail)
    }

    /// 413: the body is over [`crate::MAX_BODY_BYTES`].
    pub fn body_too_large() -> Self {
        Self::too_large("Bodies", crate::MAX_BODY_BYTES)
    }

    /// 413 naming the limit of what was sent (`what`: "Bodies", "Pictures").
    pub fn too_large(what: &str, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "The body is too large",
        )
        .with_detail(format!(
            "{what} are limited to {} MiB ({limit} bytes).",
            limit / (1024 * 1024)
        ))
    }

    /// 500: logs `error` with the request's span and tells the client nothing about it.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal server error")
            .with_detail("Something went wrong on our side. The request id in X-Request-Id identifies it in our logs.")
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = self.headers.take();
        let mut response = (status, axum::Json(self)).into_response();
        response
            .headers_mut()
            .extend(headers.map(|headers| *headers).unwrap_or_default());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Middleware: an error answered by the framework rather than by idlog (405 from the router,
/// 413 from the body limit on `Content-Length`, ...) leaves as problem+json like every other.
pub async fn problem_for_bare_errors(response: Response) -> Response {
    as_problem(response, Problem::body_too_large)
}

/// As [`problem_for_bare_errors`], for the picture routes: a 413 states the pictures' limit.
pub async fn problem_for_bare_picture_errors(response: Response) -> Response {
    as_problem(response, || {
        Problem::too_large("Pictures", crate::routes::profiles::MAX_PICTURE_BYTES)
    })
}

fn as_problem(response: Response, too_large: impl FnOnce() -> Problem) -> Response {
    let status = response.status();
    // A problem already, or a page (pages answer their errors as pages).
    let answered = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.starts_with(b"application/problem+json") || value.starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || answered {
        return response;
    }
    let mut problem = if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        let title = status.canonical_reason().unwrap_or("Error");
        Problem::new(status, &title.to_ascii_lowercase().replace(' ', "-"), title)
    };
    problem.status = status.as_u16();
    let headers = response.headers().clone();
    let mut replacement = problem.into_response();
    // Keep what the framework said beyond the body (Allow on a 405, for one).
    for (name, value) in &headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.headers_mut().insert(name, value.clone());
        }
    }
    replacement
}

/// Field errors collected while reading a request, so that all of them are reported at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Parses `raw`; an error is recorded at `pointer`.
    pub fn parse<T>(
        &mut self,
        raw: &str,
        parse: impl FnOnce(&str) -> Result<T, domain::values::InvalidValue>,
        pointer: &str,
    ) -> Option<T> {
        match parse(raw) {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(pointer, error.message);
                None
            }
        }
    }

    /// Parses an optional field.
    pub fn optional<T>(
        &mut self,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, domain::values::InvalidValue>,
        pointer: &str,
    ) -> Option<T> {
        raw.and_then(|raw| self.parse(raw, parse, pointer))
    }

    /// Looks each of `names` up with `find`; an unknown one is recorded at `pointer/index`,
    /// naming what `catalog` has.
    pub fn from_catalog<T: Ord>(
        &mut self,
        names: &[String],
        find: impl Fn(&str) -> Option<T>,
        pointer: &str,
        catalog: impl Fn() -> Vec<String>,
    ) -> std::collections::BTreeSet<T> {
        let mut found = std::collections::BTreeSet::new();
        for (index, name) in names.iter().enumerate() {
            match find(name) {
                Some(value) => {
                    found.insert(value);
                }
                None => self.push(
                    &format!("{pointer}/{index}"),
                    format!("unknown; one of {}", catalog().join(", ")),
                ),
            }
        }
        found
    }

    /// Records an error at `pointer`.
    pub fn push(&mut self, pointer: &str, detail: impl Into<String>) {
        self.0.push(FieldError {
            pointer: pointer.to_owned(),
            detail: detail.into(),
        });
    }

    /// Whether nothing was wrong so far.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A 422 with the errors, if there were any.
    pub fn finish(self) -> Result<(), Problem> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut problem = Problem::validation();
        problem.errors = self.0;
        Err(problem)
    }
}
