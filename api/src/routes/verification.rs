//! Email and phone verification: `/api/v1/auth/email/...` and `/api/v1/auth/phone/...`.
//!
//! Links and codes are derived from the token key (see [`commands::tokens`]); the log holds
//! only their hashes, and the email and SMS workers rebuild them from the events to send them.

use crate::AppState;
use crate::auth::current::Caller;
use crate::error::{command_problem, user_problem};
use crate::extract::{ApiJson, RequestContext};
use crate::problem::Problem;
use crate::routes::auth::Accepted;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use commands::CommandContext;
use commands::tokens::{TokenMinter, TokenPurpose, hash_token};
use domain::Timestamp;
use domain::user::{UserAggregate, UserCommand, UserError, UserEvent, UserState};
use secrecy::{ExposeSecret, SecretString};
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
    let now = chrono::Utc::now();
    let lifetime = state.auth.email_verification_lifetime;
    let (token, _) = state.tokens.issue(
        TokenPurpose::EmailVerification,
        caller.user.id,
        now,
        lifetime,
    );
    let metadata = CommandContext {
        metadata: caller.metadata(&context, caller.user.id),
        ..Default::default()
    };
    state
        .commands
        .execute::<UserAggregate>(
            &caller.user.id.to_string(),
            UserCommand::RequestEmailVerification { token },
            metadata,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
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
    email_verified_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    phone_verified_at: Option<Timestamp>,
}

async fn verify_email(
    state: &AppState,
    context: &RequestContext,
    token: &SecretString,
) -> Result<Verified, Problem> {
    let invalid = || user_problem(UserError::InvalidToken);
    let user_id = TokenMinter::user_of(token.expose_secret()).ok_or_else(invalid)?;
    let command = UserCommand::ConfirmEmailVerification {
        token_hash: hash_token(token.expose_secret()),
        at: chrono::Utc::now(),
    };
    let metadata = CommandContext {
        metadata: context.user_metadata(&user_id.to_string()),
        ..Default::default()
    };
    let executed = state
        .commands
        .execute::<UserAggregate>(&user_id.to_string(), command, metadata)
        .await
        .map_err(|error| match error {
            // An unknown user and a wrong token answer alike.
            commands::CommandError::Rejected(
                UserError::NotFound | UserError::Deleted | UserError::NothingToVerify,
            )
            | commands::CommandError::OtherKind { .. } => invalid(),
            other => command_problem(other, user_problem),
        })?;
    verified(&executed.state)
}

fn verified(state: &UserState) -> Result<Verified, Problem> {
    let UserState::Present(user) = state else {
        return Err(user_problem(UserError::NotFound));
    };
    Ok(Verified {
        verification_status: application::views::verification_status(user),
        email_verified_at: user.email_verified_at,
        phone_verified_at: user.phone_verified_at,
    })
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
    verify_email(&state, &context, &body.token)
        .await
        .map(axum::Json)
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
    verify_email(&state, &context, &query.token).await?;
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
    // Stored times have microsecond precision; derive the code from what will be stored.
    let now = chrono::Utc::now();
    let now = Timestamp::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let (_, code_hash) = state.tokens.phone_code(caller.user.id, now);
    let command = UserCommand::RequestPhoneVerification {
        code_hash,
        expires_at: now + state.auth.phone_code_lifetime,
        at: now,
    };
    let metadata = CommandContext {
        metadata: caller.metadata(&context, caller.user.id),
        ..Default::default()
    };
    state
        .commands
        .execute::<UserAggregate>(&caller.user.id.to_string(), command, metadata)
        .await
        .map_err(|error| command_problem(error, user_problem))?;
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
    let code_hash = state
        .tokens
        .phone_code_hash(caller.user.id, body.code.expose_secret());
    let command = UserCommand::ConfirmPhoneVerification {
        code_hash,
        at: chrono::Utc::now(),
    };
    let metadata = CommandContext {
        metadata: caller.metadata(&context, caller.user.id),
        ..Default::default()
    };
    let executed = state
        .commands
        .execute::<UserAggregate>(&caller.user.id.to_string(), command, metadata)
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    if let Some(UserEvent::PhoneVerificationFailed { attempts_left, .. }) = executed.events.first()
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-code",
            "Wrong code",
        )
        .with_detail(format!(
            "{attempts_left} attempts left before a new code is needed."
        ))
        .with_field("/code", "is not the code that was sent"));
    }
    verified(&executed.state).map(axum::Json)
}
