//! `/api/v1/auth/...`: registration, login, tokens, sessions and passwords.

use crate::AppState;
use crate::auth::current::{Caller, CurrentSession};
use crate::extract::{ApiJson, RequestContext};
use crate::problem::{FieldErrors, Problem};
use application::accounts::{Registered, Registration};
use application::authority::Authority;
use application::credentials::jwt::Jwks;
use application::login::{PasswordLogin, SignIn, Tokens};
use application::views::UserView;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use commands::tokens::hash_token;
use domain::user::UserState;
use domain::values::{Email, PersonName, PhoneNumber, Username};
use domain::{SessionId, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header that tells a client which log position its write got (read-your-writes).
pub const LOG_POSITION: &str = "x-log-position";

/// `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(schema_with = crate::openapi::email)]
    email: String,
    #[schema(schema_with = crate::openapi::new_password)]
    password: SecretString,
    #[schema(schema_with = crate::openapi::username_or_null)]
    username: Option<String>,
    #[schema(schema_with = crate::openapi::phone_or_null)]
    phone: Option<String>,
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    first_name: Option<String>,
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    last_name: Option<String>,
}

/// Registers a user (unverified) and starts their email verification.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered (unverified)", body = UserView),
        (status = 403, description = "The request's address is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 202, description = "With hide_account_existence: the same answer whether or not the address was free", body = Accepted),
        (status = 409, description = "Email, username or phone taken", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
        (status = 429, description = "Rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, Problem> {
    let mut fields = FieldErrors::default();
    let email = fields.parse(&body.email, Email::parse, "/email");
    let username = fields.optional(body.username.as_deref(), Username::parse, "/username");
    let phone = fields.optional(body.phone.as_deref(), PhoneNumber::parse, "/phone");
    let first_name = fields.optional(body.first_name.as_deref(), PersonName::parse, "/first_name");
    let last_name = fields.optional(body.last_name.as_deref(), PersonName::parse, "/last_name");
    let identifiers: Vec<&str> = [
        Some(body.email.trim()),
        body.username.as_deref().map(str::trim),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Err(rejection) = state.passwords.check_policy(&body.password, &identifiers) {
        fields.push("/password", rejection.to_string());
    }
    let email = email.filter(|_| fields.is_empty());
    fields.finish()?;
    let Some(email) = email else {
        return Err(Problem::validation().with_field("/email", "is required"));
    };

    let registration = Registration {
        email,
        username,
        phone,
        first_name,
        last_name,
        password: body.password,
    };
    let executed = match state.register(&context, registration).await? {
        Registered::Created(executed) => executed,
        Registered::Hidden => return Ok(accepted_without_saying()),
    };
    let UserState::Present(user) = &executed.state else {
        return Err(Problem::internal(&std::io::Error::other(
            "registration produced no user",
        )));
    };
    let user_id = user.id;
    let now = chrono::Utc::now();
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/users/{user_id}")) {
        headers.insert(header::LOCATION, location);
    }
    if let Some(position) = executed.position {
        headers.insert(LOG_POSITION, HeaderValue::from(position));
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(UserView::new(user, now)),
    )
        .into_response())
}

/// A 202 that does not say whether an account exists.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Always `accepted`.
    status: &'static str,
    /// What happens next, if anything.
    detail: &'static str,
}

impl Accepted {
    /// An acceptance saying what happens next.
    pub fn new(detail: &'static str) -> Self {
        Self {
            status: "accepted",
            detail,
        }
    }
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, axum::Json(self)).into_response()
    }
}

/// The answer to a registration when account existence is hidden: the same, new or not.
fn accepted_without_saying() -> Response {
    Accepted {
        status: "accepted",
        detail: "If the address can be registered, a message with the next step is on its way to it.",
    }
    .into_response()
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address or username.
    #[serde(alias = "email", alias = "username")]
    login: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// A name for the device, shown in the session list.
    device_name: Option<String>,
}

/// Tokens for a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserView>,
}

impl TokenResponse {
    /// The answer for a session's tokens, with the user or without.
    pub(crate) fn new(tokens: Tokens, with_user: bool) -> Self {
        Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token.expose_secret().to_owned(),
            token_type: "Bearer",
            expires_in: tokens.expires_in,
            session_id: tokens.session_id.to_string(),
            user: with_user.then_some(tokens.user),
        }
    }
}

/// Logs in with an email address or username and a password, starting a session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (tokens); or, with a second factor on, `{mfa_required: true, mfa_token, expires_in}` to finish at /auth/login/mfa; or, when the password must be changed first, `{password_change_required: true, change_token, expires_in}`: no session until the password is reset with the change token", body = LoginAnswer),
        (status = 401, description = "Wrong login or password, or the account cannot log in (one answer for all)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The right password, but the user's organization is suspended or inactive; or the request's address is blocked", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
        (status = 429, description = "Rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, Problem> {
    let login = PasswordLogin {
        login: body.login,
        password: body.password,
        device_name: body.device_name,
    };
    let answer = match state.app.login::<Tokens>(&context, login).await? {
        SignIn::Session(tokens) => {
            LoginAnswer::Session(Box::new(TokenResponse::new(*tokens, true)))
        }
        SignIn::SecondFactorRequired {
            mfa_token,
            expires_in,
        } => LoginAnswer::SecondFactor(MfaChallenge {
            mfa_required: true,
            mfa_token,
            expires_in,
        }),
        SignIn::PasswordChangeRequired {
            change_token,
            expires_in,
        } => LoginAnswer::PasswordChange(PasswordChangeChallenge {
            password_change_required: true,
            change_token: change_token.expose_secret().to_owned(),
            expires_in,
        }),
    };
    Ok(axum::Json(answer).into_response())
}

/// What a right password gets: a session, or what it waits for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    /// Logged in.
    Session(Box<TokenResponse>),
    /// A second factor is on.
    SecondFactor(MfaChallenge),
    /// The password must be changed first.
    PasswordChange(PasswordChangeChallenge),
}

/// The answer to a right password that must be changed before the account is used (it was
/// set by an administrator to be temporary).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChangeChallenge {
    /// Always `true`.
    password_change_required: bool,
    /// Send it as `token`, with `new_password`, to `POST /auth/password/reset`.
    change_token: String,
    /// Seconds it stays valid.
    expires_in: i64,
}

/// The answer to a right password when a second factor is on.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always `true`.
    mfa_required: bool,
    /// Present it with a code to `POST /auth/login/mfa`.
    mfa_token: String,
    /// Seconds it stays valid.
    expires_in: i64,
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String, format = Password)]
    refresh_token: SecretString,
}

/// Rotates a refresh token. A token already rotated away revokes the whole session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Rotated: the old refresh token is dead", body = TokenResponse),
        (status = 401, description = "Invalid, expired or reused refresh token (reuse revokes the session)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The request's address is blocked", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
        (status = 429, description = "Rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, Problem> {
    let tokens = state.refresh(&context, &body.refresh_token).await?;
    Ok(axum::Json(TokenResponse::new(tokens, false)).into_response())
}

/// Ends the caller's session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "This session ended"),
        crate::openapi::AuthErrors,
    )
)]
#[tracing::instrument(skip_all)]
pub async fn logout(
    State(state): State<AppState>,
    context: RequestContext,
    current: CurrentSession,
) -> Result<StatusCode, Problem> {
    state.logout(&context, &current).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller, this one included.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session of the caller ended"),
        crate::openapi::AuthErrors,
    )
)]
#[tracing::instrument(skip_all)]
pub async fn logout_all(
    State(state): State<AppState>,
    context: RequestContext,
    current: CurrentSession,
) -> Result<StatusCode, Problem> {
    state.logout_everywhere(&context, &current).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    user: UserView,
    session_id: String,
    /// The organizations the user is a member of, with their role there.
    organizations: Vec<crate::routes::organizations::MembershipView>,
}

/// The caller.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        crate::openapi::AuthErrors,
    )
)]
#[tracing::instrument(skip_all)]
pub async fn me(
    State(state): State<AppState>,
    caller: crate::auth::current::Caller,
) -> Result<axum::Json<MeResponse>, Problem> {
    let authority = application::authority::Authority::of(&state, &caller).await?;
    let user = &caller.user;
    let organizations = crate::routes::organizations::memberships_of(&state, user).await?;

    Ok(axum::Json(MeResponse {
        user: state.user_view(&authority, user).await?,
        session_id: caller.session.session_id.to_string(),
        organizations,
    }))
}

/// `POST /auth/password/change`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    #[schema(schema_with = crate::openapi::new_password)]
    new_password: SecretString,
    #[serde(default)]
    end_other_sessions: bool,
}

/// Changes the caller's password, optionally ending their other sessions.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/change",
    tag = "auth",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed"),
        crate::openapi::AuthErrors,
        (status = 403, description = "The current password is wrong", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
        (status = 429, description = "Rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn change_password(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, Problem> {
    let mut authority = Authority::of(&state, &caller).await?;
    state
        .change_password(
            &mut authority,
            &context,
            body.current_password,
            body.new_password,
            body.end_other_sessions,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/password/forgot`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    email: String,
}

/// Sends a reset link if the address belongs to an active account; answers the same either way.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/forgot",
    tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted, whether or not the account exists", body = Accepted),
        (status = 403, description = "The request's address is blocked", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
        (status = 429, description = "Rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn forgot_password(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> Result<Response, Problem> {
    state.app.forgot_password(&context, &body.email).await?;
    Ok(Accepted {
        status: "accepted",
        detail: "If the address belongs to an account, a reset link is on its way to it.",
    }
    .into_response())
}

/// `POST /auth/password/reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[schema(value_type = String, format = Password)]
    token: SecretString,
    #[schema(schema_with = crate::openapi::new_password)]
    new_password: SecretString,
}

/// Sets a new password with a reset link's token and ends every session of the user.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/reset",
    tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every session of the user ended"),
        (status = 403, description = "The request's address is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or expired token, or a refused password", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
    )
)]
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> Result<StatusCode, Problem> {
    state
        .reset_password(&context, body.token, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    id: String,
    device: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    last_used_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    expires_at: Timestamp,
    current: bool,
}

/// The caller's open sessions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's open sessions, newest first", body = [SessionView]),
        crate::openapi::AuthErrors,
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list_sessions(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<axum::Json<Vec<SessionView>>, Problem> {
    let open = state.own_sessions(&current).await?;
    let views = open
        .iter()
        .rev()
        .map(|session| SessionView {
            id: session.id.to_string(),
            device: session.device.as_ref().map(ToString::to_string),
            ip: session.ip.map(|ip| ip.to_string()),
            user_agent: session.user_agent.as_ref().map(ToString::to_string),
            created_at: session.started_at,
            last_used_at: session.last_used_at,
            expires_at: session
                .expires_at
                .min(session.last_used_at + session.idle_timeout),
            current: session.id == current.session_id,
        })
        .collect();
    Ok(axum::Json(views))
}

/// Revokes one of the caller's sessions. Someone else's session is "not found".
#[utoipa::path(
    delete,
    path = "/api/v1/auth/sessions/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such session of the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn delete_session(
    State(state): State<AppState>,
    context: RequestContext,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let session_id: SessionId = id
        .parse()
        .map_err(|_| crate::authz::not_found(application::Resource::Session))?;
    state
        .end_own_session(&context, &current, session_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/introspect` (RFC 7662; JSON body instead of a form, like the rest of the API).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectRequest {
    #[schema(value_type = String, format = Password)]
    token: SecretString,
    /// Accepted for RFC 7662 compatibility; only access tokens are introspected.
    #[expect(dead_code, reason = "read for compatibility, not used")]
    token_type_hint: Option<String>,
}

/// RFC 7662 answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectResponse {
    active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    claims: Option<IntrospectedClaims>,
}

/// What is told about an active token.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectedClaims {
    sub: String,
    sid: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: String,
    token_type: &'static str,
}

/// Tells a service whether an access token is active now (its session still open).
#[utoipa::path(
    post,
    path = "/api/v1/auth/introspect",
    tag = "auth",
    request_body = IntrospectRequest,
    security(("service" = [])),
    responses(
        (status = 200, description = "RFC 7662 answer", body = IntrospectResponse),
        (status = 401, description = "Missing or wrong service credential", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors,
    )
)]
#[tracing::instrument(skip_all)]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IntrospectRequest>,
) -> Result<axum::Json<IntrospectResponse>, Problem> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credential)| hash_token(credential.trim()));
    let authorized = match (&state.auth.introspection_credential_hash, presented) {
        (Some(expected), Some(presented)) => *expected == presented,
        _ => false,
    };
    if !authorized {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Service credential required",
        )
        .with_detail(
            "Introspection needs the service credential from configuration as a bearer token.",
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
    }
    let answer = match state.authenticate(body.token.expose_secret()).await {
        Ok(CurrentSession {
            claims: Some(claims),
            ..
        }) => IntrospectResponse {
            active: true,
            claims: Some(IntrospectedClaims {
                sub: claims.sub,
                sid: claims.sid,
                iss: claims.iss,
                aud: claims.aud,
                iat: claims.iat,
                exp: claims.exp,
                jti: claims.jti,
                token_type: "access_token",
            }),
        },
        // A bearer token is checked only as an access token: it always has claims.
        Ok(_) | Err(application::AppError::InvalidToken) => IntrospectResponse {
            active: false,
            claims: None,
        },
        Err(error) => return Err(error.into()),
    };
    Ok(axum::Json(answer))
}

/// The public keys access tokens are signed with.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses(
        (status = 200, description = "The public keys access tokens are signed with", body = Jwks),
    )
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.access_tokens.current().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
