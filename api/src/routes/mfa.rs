//! Two-factor authentication with TOTP: enroll, confirm, disable, and the second step of login.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{ApiJson, RequestContext};
use crate::problem::Problem;
use crate::routes::auth::TokenResponse;
use application::authority::Authority;
use application::login::{SecondFactorLogin, Tokens};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /auth/mfa/totp/enroll`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrollment {
    /// The secret in base32, for typing into an authenticator app.
    secret: String,
    /// The `otpauth://` URI, for a QR code.
    otpauth_uri: String,
}

/// Starts TOTP enrollment with a fresh secret; confirm it with a first code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/enroll", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret", body = Enrollment),
        crate::openapi::AuthErrors,
        (status = 409, description = "TOTP is already on", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn enroll(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
) -> Result<axum::Json<Enrollment>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let enrollment = state.enroll_totp(&authority, &context).await?;
    Ok(axum::Json(Enrollment {
        secret: enrollment.secret,
        otpauth_uri: enrollment.otpauth_uri,
    }))
}

/// A code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[schema(value_type = String)]
    code: SecretString,
}

/// `POST /auth/mfa/totp/confirm`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes for when the authenticator is lost. Shown once.
    recovery_codes: Vec<String>,
}

/// Turns TOTP on with a first code; answers the recovery codes (only their hashes are kept).
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", tag = "mfa", request_body = CodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "TOTP is on", body = RecoveryCodes),
        crate::openapi::AuthErrors,
        (status = 409, description = "Not enrolled, or already on", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn confirm(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<axum::Json<RecoveryCodes>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let recovery_codes = state.confirm_totp(&authority, &context, &body.code).await?;
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}

/// `DELETE /auth/mfa/totp`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Turns TOTP off, with the password.
#[utoipa::path(delete, path = "/api/v1/auth/mfa/totp", tag = "mfa", request_body = DisableRequest,
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many password checks or reset links for this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "TOTP is off"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "TOTP is not on", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn disable(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    ApiJson(body): ApiJson<DisableRequest>,
) -> Result<StatusCode, Problem> {
    let mut authority = Authority::of(&state, &caller).await?;
    state
        .disable_totp(&mut authority, &context, body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/login/mfa`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// From the login answer.
    #[schema(value_type = String)]
    mfa_token: SecretString,
    /// A code from the authenticator…
    #[schema(value_type = Option<String>)]
    code: Option<SecretString>,
    /// …or one of the recovery codes.
    #[schema(value_type = Option<String>)]
    recovery_code: Option<SecretString>,
    /// A name for the device, shown in the session list.
    device_name: Option<String>,
}

/// Finishes a login with a TOTP or recovery code. A wrong code counts as a failed login.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "mfa", request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Logged in", body = crate::routes::auth::TokenResponse),
        (status = 401, description = "Invalid MFA token, or a wrong, used or expired code", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The request's address is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of code and recovery_code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn login_mfa(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<MfaLoginRequest>,
) -> Result<Response, Problem> {
    let login = SecondFactorLogin {
        mfa_token: body.mfa_token,
        code: body.code,
        recovery_code: body.recovery_code,
        device_name: body.device_name,
    };
    let tokens = state
        .app
        .login_with_second_factor::<Tokens>(&context, login)
        .await?;
    Ok(axum::Json(TokenResponse::new(tokens, true)).into_response())
}
