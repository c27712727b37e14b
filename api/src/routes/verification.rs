//! Email and phone verification: `/api/v1/auth/email/...` and `/api/v1/auth/phone/...`.
//!
//! Links and codes are derived from the token key (see [`commands::tokens`]); the log holds
//! only their hashes, and the email and SMS workers rebuild them from the events to send them.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{ApiJson, RequestContext};
use crate::problem::Problem;
use crate::routes::auth::Accepted;
use application::authority::Authority;
use application::verification::Verification;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use domain::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Sends (again) a link to verify the caller's email address (at most once a minute).
#[utoipa::path(post, path = "/api/v1/auth/email/verify/send", tag = "verification", security(("bearer" = [])),
    responses(
        (status = 202, description = "A link is on its way", body = Accepted),
        crate::openapi::AuthErrors,
        (status = 409, description = "Already verified", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Asked less than a minute ago; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn send_email_verification(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    state.send_email_verification(&authority, &context).await?;
    Ok(Accepted::new("A verification link is on its way to your email address.").into_response())
}

/// `POST /auth/email/verify`, and the query of the `GET` link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    #[schema(value_type = String)]
    token: SecretString,
}

/// What a verification answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// `not_verified`, `email_verified`, `phone_verified` or `both_verified`.
    verification_status: &'static str,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros_option")]
    email_verified_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros_option")]
    phone_verified_at: Option<Timestamp>,
}

impl From<Verification> for Verified {
    fn from(verification: Verification) -> Self {
        Self {
            verification_status: verification.status,
            email_verified_at: verification.email_verified_at,
            phone_verified_at: verification.phone_verified_at,
        }
    }
}

/// Verifies an email address with the token from the link.
#[utoipa::path(post, path = "/api/v1/auth/email/verify", tag = "verification", request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Verified", body = Verified),
        (status = 409, description = "Already verified", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or expired token", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_email_post(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> Result<axum::Json<Verified>, Problem> {
    let verification = state.verify_email(&context, &body.token).await?;
    Ok(axum::Json(Verified::from(verification)))
}

/// The link in the email: verifies and answers a short page.
#[utoipa::path(get, path = "/api/v1/auth/email/verify", tag = "verification",
    params(("token" = String, Query, description = "The token from the email")),
    responses(
        (status = 200, description = "Verified (an HTML page)", content_type = "text/html"),
        (status = 422, description = "Invalid or expired token", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_email_link(
    State(state): State<AppState>,
    context: RequestContext,
    Query(query): Query<VerifyEmailRequest>,
) -> Result<Html<&'static str>, Problem> {
    state.verify_email(&context, &query.token).await?;
    Ok(Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Email verified</title></head>\
         <body><h1>Your email address is verified.</h1><p>You can close this page.</p></body></html>",
    ))
}

/// Sends a six-digit code to the caller's phone (at most once a minute; it works 10 minutes).
#[utoipa::path(post, path = "/api/v1/auth/phone/verify/send", tag = "verification", security(("bearer" = [])),
    responses(
        (status = 202, description = "A code is on its way", body = Accepted),
        crate::openapi::AuthErrors,
        (status = 409, description = "Already verified", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No phone number", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Asked less than a minute ago; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn send_phone_code(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    state.send_phone_code(&authority, &context).await?;
    Ok(Accepted::new("A code is on its way to your phone.").into_response())
}

/// `POST /auth/phone/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPhoneRequest {
    /// The six digits received.
    #[schema(value_type = String)]
    code: SecretString,
}

/// Verifies the caller's phone with the code; a wrong code uses up one of five attempts.
#[utoipa::path(post, path = "/api/v1/auth/phone/verify", tag = "verification", request_body = VerifyPhoneRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Verified", body = Verified),
        crate::openapi::AuthErrors,
        (status = 409, description = "Already verified", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong, expired or used-up code", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_phone(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    ApiJson(body): ApiJson<VerifyPhoneRequest>,
) -> Result<axum::Json<Verified>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let verification = state.verify_phone(&authority, &context, &body.code).await?;
    Ok(axum::Json(Verified::from(verification)))
}
