//! The caller of an authenticated request: a valid access token whose session is still open, or,
//! where an operation is open to them, an organization's API key.

use crate::AppState;
use crate::problem::Problem;
use application::RequestContext;
use application::api_keys::is_api_key;
pub use application::authentication::{Caller, CurrentSession};
use application::authority::Authority;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

/// The bearer token of a request, if it has one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The route a request took, as its template (`/api/v1/organizations/{id}`): what a key's use
/// records, so that the log holds no ids the client put in the path and no text of any length.
fn full_path(parts: &Parts) -> String {
    match parts.extensions.get::<axum::extract::MatchedPath>() {
        Some(route) => route.as_str().to_owned(),
        None => parts.uri.path().chars().take(200).collect(),
    }
}

/// The answer to a request without a bearer credential.
fn unauthenticated() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Authentication required",
    )
    .with_detail("Send an access token: Authorization: Bearer <token>.")
    .with_header(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    )
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(unauthenticated)?.to_owned();
        if is_api_key(&token) {
            // The policy grants keys only what a flag grants in their organization: nothing a
            // person's endpoint does. A key that works is still recorded as used.
            let Ok(context) = RequestContext::from_request_parts(parts, state).await;
            state
                .authenticate_key(&context, &token, parts.method.as_str(), &full_path(parts))
                .await?;
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "api-key-not-accepted",
                "Not open to API keys",
            )
            .with_detail("This operation needs a person's access token."));
        }
        Ok(state.authenticate(&token).await?)
    }
}

/// The rights of whoever calls an operation open to API keys: a person's access token or an
/// organization's key (whose use is recorded here, before anything else is done).
impl FromRequestParts<AppState> for Authority {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(unauthenticated)?.to_owned();
        if !is_api_key(&token) {
            let caller = Caller::from_request_parts(parts, state).await?;
            return Ok(Authority::of(state, &caller).await?);
        }
        let Ok(context) = RequestContext::from_request_parts(parts, state).await;
        let key = state
            .authenticate_key(&context, &token, parts.method.as_str(), &full_path(parts))
            .await?;
        Ok(Authority::of_key(state, &key).await?)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = CurrentSession::from_request_parts(parts, state).await?;
        Ok(state.caller(session).await?)
    }
}
