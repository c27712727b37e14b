//! Who is signed in: an access token (REST) or a page cookie (pages) checked against its
//! session, and the person behind it. Each front end accepts only its own sessions.

use crate::credentials::jwt::AccessClaims;
use crate::sessions;
use crate::{App, AppError, RequestContext};
use commands::CommandError;
use commands::tokens::hash_token;
use domain::Timestamp;
use domain::session::{Session, SessionAggregate, SessionClient, SessionCommand, SessionState};
use domain::user::{User, UserAggregate, UserState, UserStatus};
use domain::{SessionId, UserId};
use eventstore::{Actor, ActorKind, EventMetadata};
use secrecy::{ExposeSecret, SecretString};

/// A checked access token or page cookie and its open session.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    /// The user.
    pub user_id: UserId,
    /// The session the token belongs to.
    pub session_id: SessionId,
    /// The session, as of this request.
    pub session: Session,
    /// The access token's claims (none for a page session).
    pub claims: Option<AccessClaims>,
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
    /// The session a presented credential names, as this process follows the log; an id of
    /// another kind of stream names no session.
    async fn presented_session(&self, session_id: SessionId) -> Result<SessionState, AppError> {
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
        Ok(loaded.state)
    }

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
        match self.presented_session(session_id).await? {
            SessionState::Present(session)
                if session.user_id == user_id
                    && session.client == SessionClient::Api
                    && session.is_usable(chrono::Utc::now()) =>
            {
                Ok(CurrentSession {
                    user_id,
                    session_id,
                    session: *session,
                    claims: Some(claims),
                })
            }
            _ => {
                tracing::info!(%session_id, "access token of a closed session");
                Err(AppError::InvalidToken)
            }
        }
    }

    /// Checks a page cookie's secret against its session, open now and a page session; a
    /// view keeps the session from idling out, recorded at most once per tenth of the idle
    /// timeout so that browsing does not write on every request.
    pub async fn authenticate_page(
        &self,
        context: &RequestContext,
        secret: &SecretString,
    ) -> Result<CurrentSession, AppError> {
        let session_id =
            sessions::session_of_refresh_token(secret).ok_or(AppError::InvalidToken)?;
        let now = chrono::Utc::now();
        let SessionState::Present(session) = self.presented_session(session_id).await? else {
            return Err(AppError::InvalidToken);
        };
        // TokenHash compares in constant time.
        let matches = hash_token(secret.expose_secret()) == session.refresh_token_hash;
        if !matches || session.client != SessionClient::Page || !session.is_usable(now) {
            tracing::info!(%session_id, "page cookie of a closed or another session");
            return Err(AppError::InvalidToken);
        }
        if now - session.last_used_at >= session.idle_timeout / 10 {
            self.touch_page_session(context, &session, now).await;
        }
        Ok(CurrentSession {
            user_id: session.user_id,
            session_id,
            session: *session,
            claims: None,
        })
    }

    /// Records a page view on `session`. A failure is logged, not shown: the view goes on, and
    /// the next one tries again.
    async fn touch_page_session(
        &self,
        context: &RequestContext,
        session: &Session,
        now: Timestamp,
    ) {
        let user_id = session.user_id.to_string();
        let command_context = commands::CommandContext {
            metadata: context.user_metadata(&user_id),
            data_subject: Some(user_id),
            ..Default::default()
        };
        if let Err(error) = self
            .commands
            .execute::<SessionAggregate>(
                &session.id.to_string(),
                SessionCommand::Touch { at: now },
                command_context,
            )
            .await
        {
            tracing::info!(session_id = %session.id, %error, "a page view was not recorded");
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
