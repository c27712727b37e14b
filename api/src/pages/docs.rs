//! `/docs`: the API's interactive documentation (Swagger UI, embedded from the npm package
//! `swagger-ui-dist` 5.36.0, Apache-2.0), reading `/api/openapi.json`. Nothing loads from
//! elsewhere, so it works without internet.

use crate::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// The page: Swagger UI's files and a small script of idlog's that starts it (no inline script).
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>idlog API</title>
<link rel="stylesheet" href="/assets/swagger-ui.css">
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
</head>
<body>
<main id="swagger-ui"></main>
<script src="/assets/swagger-ui-bundle.js"></script>
<script src="/assets/docs.js"></script>
</body>
</html>
"#;

/// Swagger UI styles some elements inline: its page alone allows inline styles.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `GET /docs`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs", get(page))
        .route("/docs/", get(page))
}

async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}
