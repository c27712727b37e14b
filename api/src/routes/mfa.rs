//! Two-factor authentication with TOTP: enroll, confirm, disable, and the second step of login.

use crate::AppState;
use crate::auth::current::Caller;
use crate::authz::RequireOr;
use crate::error::{command_problem, user_problem};
use crate::extract::{ApiJson, RequestContext};
use crate::problem::Problem;
use crate::routes::auth::TokenResponse;
use application::authority::Authority;
use application::credentials::totp;
use application::login::{SecondFactor, SecondFactorLogin};
use application::policy::{Operation, Target};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use commands::CommandContext;
use domain::user::{UserAggregate, UserCommand, UserState};
use secrecy::{ExposeSecret, SecretString};
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
    let secret = totp::new_secret();
    let command = UserCommand::StartTotpEnrollment {
        sealed_secret: state.totp.seal(caller.user.id, &secret),
        at: chrono::Utc::now(),
    };
    let metadata = CommandContext {
        metadata: caller.metadata(&context, caller.user.id),
        ..Default::default()
    };
    state
        .commands
        .execute_on::<UserAggregate>(
            &caller.user.id.to_string(),
            UserState::Present(caller.user.clone()),
            caller.version,
            command,
            metadata,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    let issuer = state.access_tokens.current().issuer().to_owned();
    Ok(axum::Json(Enrollment {
        secret: data_encoding::BASE32_NOPAD.encode(&secret),
        otpauth_uri: totp::otpauth_uri(&issuer, caller.user.email.as_str(), &secret),
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

fn wrong_code() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-code",
        "Wrong code",
    )
    .with_field("/code", "is not the current code of the authenticator")
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
    let user = &caller.user;
    let Some(enrollment) = user.totp.as_ref().filter(|totp| !totp.enabled) else {
        return Err(user_problem(if user.has_mfa() {
            domain::user::UserError::TotpAlreadyEnabled
        } else {
            domain::user::UserError::TotpNotEnrolled
        }));
    };
    let secret = state
        .totp
        .open(user.id, &enrollment.sealed_secret)
        .map_err(|e| Problem::internal(&e))?;
    let now = chrono::Utc::now();
    let step = totp::matching_step(
        &secret,
        body.code.expose_secret(),
        totp::step_of(now.timestamp()),
    )
    .ok_or_else(wrong_code)?;
    let codes = totp::new_recovery_codes();
    let hashes = codes
        .iter()
        .map(|code| state.tokens.recovery_code_hash(user.id, code))
        .collect();
    let command = UserCommand::ConfirmTotp {
        step,
        recovery_codes: hashes,
        at: now,
    };
    let metadata = CommandContext {
        metadata: caller.metadata(&context, user.id),
        ..Default::default()
    };
    state
        .commands
        .execute_on::<UserAggregate>(
            &user.id.to_string(),
            UserState::Present(user.clone()),
            caller.version,
            command,
            metadata,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    Ok(axum::Json(RecoveryCodes {
        recovery_codes: codes,
    }))
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
    // The password is always asked for, recent sign-in or not: it is the proof.
    let mut authority = Authority::of(&state, &caller).await?;
    authority
        .confirm_password(&state, Some(body.password), "/password")
        .await?;
    let person = authority.person(&state, &caller.user);
    authority.require_or(
        Operation::DisableMfa,
        Target::Person(&person),
        Problem::invalid_token,
    )?;
    let metadata = CommandContext {
        metadata: caller.metadata(&context, caller.user.id),
        ..Default::default()
    };
    state
        .commands
        .execute::<UserAggregate>(
            &caller.user.id.to_string(),
            UserCommand::DisableTotp {
                at: chrono::Utc::now(),
            },
            metadata,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
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
        (status = 422, description = "Neither or both of code and recovery_code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn login_mfa(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<MfaLoginRequest>,
) -> Result<Response, Problem> {
    let proof = match (body.code, body.recovery_code) {
        (Some(code), None) => SecondFactor::Code(code),
        (None, Some(code)) => SecondFactor::RecoveryCode(code),
        _ => {
            return Err(Problem::validation().with_detail("Send either code or recovery_code."));
        }
    };
    let login = SecondFactorLogin {
        mfa_token: body.mfa_token,
        proof,
        device_name: body.device_name,
    };
    let tokens = state.app.login_with_second_factor(&context, login).await?;
    Ok(axum::Json(TokenResponse::new(tokens, true)).into_response())
}
