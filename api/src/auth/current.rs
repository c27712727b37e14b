//! The caller of an authenticated request: a valid access token whose session is still open.

use crate::AppState;
use crate::auth::jwt::AccessClaims;
use crate::extract::RequestContext;
use crate::problem::Problem;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use domain::session::{Session, SessionAggregate, SessionState};
use domain::user::{User, UserAggregate, UserState, UserStatus};
use domain::{SessionId, UserId};
use eventstore::{Actor, ActorKind, EventMetadata};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    /// The user.
    pub user_id: UserId,
    /// The session the token belongs to.
    pub session_id: SessionId,
    /// The session, as of this request.
    pub session: Session,
    /// The token's claims.
    pub claims: AccessClaims,
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks an access token and that its session is open now: a revoked or ended session makes
/// its tokens fail at once, not when they expire.
pub async fn authenticate(state: &AppState, token: &str) -> Result<CurrentSession, Problem> {
    let claims = state
        .access_tokens
        .current()
        .validate(token)
        .map_err(|error| {
            tracing::info!(%error, "access token refused");
            Problem::invalid_token()
        })?;
    let (user_id, session_id) = claims.subject().ok_or_else(Problem::invalid_token)?;
    let loaded = state
        .commands
        .followed::<SessionAggregate>(&session_id.to_string())
        .await
        .map_err(|error| match error {
            commands::CommandError::OtherKind { .. } => Problem::invalid_token(),
            error => crate::error::command_problem(error, crate::auth::sessions::session_problem),
        })?;
    match loaded.state {
        SessionState::Present(session)
            if session.user_id == user_id && session.is_usable(chrono::Utc::now()) =>
        {
            Ok(CurrentSession {
                user_id,
                session_id,
                session: *session,
                claims,
            })
        }
        _ => {
            tracing::info!(%session_id, "access token of a closed session");
            Err(Problem::invalid_token())
        }
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(|| {
            Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            )
            .with_detail("Send an access token: Authorization: Bearer <token>.")
            .with_header(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            )
        })?;
        let current = authenticate(state, token).await?;
        Ok(current)
    }
}

/// An authenticated caller with their user as of this request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session and token.
    pub session: CurrentSession,
    /// The user.
    pub user: Box<User>,
    /// Their stream's version when read.
    pub version: u64,
}

impl Caller {
    /// Whether the caller holds the global `admin` role.
    pub fn is_admin(&self) -> bool {
        self.user.roles.iter().any(|role| role.as_str() == "admin")
    }

    /// Whether `user_id` is the caller.
    pub fn is(&self, user_id: UserId) -> bool {
        self.user.id == user_id
    }

    /// Event metadata for what the caller does: as an administrator when acting on someone
    /// else with the admin role, as a user otherwise.
    pub fn metadata(&self, context: &RequestContext, subject: UserId) -> EventMetadata {
        let kind = if self.is_admin() && !self.is(subject) {
            ActorKind::Admin
        } else {
            ActorKind::User
        };
        context.metadata(Actor {
            kind,
            id: Some(self.user.id.to_string()),
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = CurrentSession::from_request_parts(parts, state).await?;
        let loaded = state
            .commands
            .followed::<UserAggregate>(&session.user_id.to_string())
            .await
            .map_err(|error| crate::error::command_problem(error, crate::error::user_problem))?;
        match loaded.state {
            UserState::Present(user) if user.status == UserStatus::Active => Ok(Self {
                session,
                user,
                version: loaded.version,
            }),
            _ => Err(Problem::invalid_token()),
        }
    }
}
