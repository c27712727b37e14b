//! Who is signed in: an access token checked against its session, and the person behind it.

use crate::credentials::jwt::AccessClaims;
use crate::{App, AppError, RequestContext};
use commands::CommandError;
use domain::session::{Session, SessionAggregate, SessionState};
use domain::user::{User, UserAggregate, UserState, UserStatus};
use domain::{SessionId, UserId};
use eventstore::{Actor, ActorKind, EventMetadata};

/// A checked access token and its open session.
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

/// A signed-in person with their user as of this request.
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

impl App {
    /// Checks an access token and that its session is open now: a revoked or ended session
    /// makes its tokens fail at once, not when they expire.
    pub async fn authenticate(&self, token: &str) -> Result<CurrentSession, AppError> {
        let claims = self
            .access_tokens
            .current()
            .validate(token)
            .map_err(|error| {
                tracing::info!(%error, "access token refused");
                AppError::InvalidToken
            })?;
        let (user_id, session_id) = claims.subject().ok_or(AppError::InvalidToken)?;
        let loaded = self
            .commands
            .followed::<SessionAggregate>(&session_id.to_string())
            .await
            .map_err(|error| match error {
                CommandError::OtherKind { .. } | CommandError::Rejected(_) => {
                    AppError::InvalidToken
                }
                error => AppError::Session(error),
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
                Err(AppError::InvalidToken)
            }
        }
    }

    /// The person signed in with `session`, while their account is active.
    pub async fn caller(&self, session: CurrentSession) -> Result<Caller, AppError> {
        let loaded = self
            .commands
            .followed::<UserAggregate>(&session.user_id.to_string())
            .await?;
        match loaded.state {
            UserState::Present(user) if user.status == UserStatus::Active => Ok(Caller {
                session,
                user,
                version: loaded.version,
            }),
            _ => Err(AppError::InvalidToken),
        }
    }
}
