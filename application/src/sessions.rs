//! Sessions: starting one at login, finding a user's open ones, ending them, refresh tokens.
//!
//! A session is its own stream; the user's stream lists the sessions their logins started
//! (`LoginSucceeded { session_id }`), so a user's open sessions are found without a read model
//! and always as of the latest write. Only sessions started within the absolute lifetime can
//! still be open, which bounds how many streams are read.

use crate::{App, AppError, RequestContext};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use commands::tokens::hash_token;
use commands::{CommandContext, CommandError};
use domain::session::{
    EndReason, RevocationReason, Session, SessionAggregate, SessionClient, SessionCommand,
    SessionError, SessionState,
};
use domain::user::User;
use domain::values::{DeviceName, TokenHash, UserAgent};
use domain::{Duration, SessionId, Timestamp};
use eventstore::EventMetadata;
use secrecy::{ExposeSecret, SecretString};

/// Session lifetimes and limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session unused (no login or refresh) this long expires.
    pub idle_timeout: Duration,
    /// A session expires this long after login whatever its use.
    pub absolute_lifetime: Duration,
    /// At most this many open sessions per user; a login beyond it ends the oldest.
    pub max_per_user: Option<usize>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::minutes(30),
            absolute_lifetime: Duration::days(30),
            max_per_user: None,
        }
    }
}

/// A fresh refresh token for `session`: the session id, a dot, 256 random bits.
pub fn new_refresh_token(session: SessionId) -> (SecretString, TokenHash) {
    let mut secret = [0_u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let token = format!(
        "{}.{}",
        session.as_uuid().simple(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    let hash = hash_token(&token);
    (SecretString::from(token), hash)
}

/// The session a presented refresh token claims to belong to.
pub fn session_of_refresh_token(token: &SecretString) -> Option<SessionId> {
    let (session, _) = token.expose_secret().split_once('.')?;
    uuid::Uuid::try_parse(session)
        .ok()
        .map(SessionId::from_uuid)
}

/// Metadata for session commands: the user acts, the user is the data subject.
fn session_context(context: &RequestContext, user: &User) -> CommandContext {
    let user_id = user.id.to_string();
    CommandContext {
        metadata: context.user_metadata(&user_id),
        data_subject: Some(user_id),
        ..Default::default()
    }
}

/// Starts a session of `client` for `user` (whose login is already recorded under
/// `session_id`); answers its secret: the first refresh token, or the page cookie's secret.
pub async fn start(
    app: &App,
    context: &RequestContext,
    user: &User,
    session_id: SessionId,
    client: SessionClient,
    device: Option<DeviceName>,
    now: Timestamp,
) -> Result<SecretString, AppError> {
    // Both secrets have the refresh token's form: the session id names the stream to check.
    let (refresh_token, refresh_token_hash) = new_refresh_token(session_id);
    let settings = app.auth.sessions;
    let command = SessionCommand::Start {
        session_id,
        user_id: user.id,
        client,
        device,
        ip: context.ip.as_deref().and_then(|ip| ip.parse().ok()),
        user_agent: context
            .user_agent
            .as_deref()
            .and_then(|agent| UserAgent::parse(agent).ok()),
        refresh_token_hash,
        idle_timeout: settings.idle_timeout,
        expires_at: now + settings.absolute_lifetime,
        at: now,
    };
    app.commands
        .execute_on::<SessionAggregate>(
            &session_id.to_string(),
            SessionState::Absent,
            0,
            command,
            session_context(context, user),
        )
        .await?;
    Ok(refresh_token)
}

/// The user's sessions usable at `now`, oldest first.
pub async fn open_sessions(
    app: &App,
    user: &User,
    now: Timestamp,
) -> Result<Vec<Session>, AppError> {
    let oldest_possible = now - app.auth.sessions.absolute_lifetime;
    let mut open = Vec::new();
    for (session_id, started_at) in user.sessions.iter().rev() {
        // Logins are in order: everything before this one has outlived the absolute lifetime.
        if *started_at < oldest_possible {
            break;
        }
        let loaded = app
            .commands
            .followed::<SessionAggregate>(&session_id.to_string())
            .await?;
        if let SessionState::Present(session) = loaded.state
            && session.user_id == user.id
            && session.is_usable(now)
        {
            open.push(*session);
        }
    }
    open.reverse();
    Ok(open)
}

/// How a session is closed.
#[derive(Debug, Clone, Copy)]
pub enum Closing {
    /// Ended normally.
    End(EndReason),
    /// Cut short.
    Revoke(RevocationReason),
}

/// Ends or revokes one session, the user acting. A session that is already closed stays as it
/// is.
pub async fn close(
    app: &App,
    context: &RequestContext,
    user: &User,
    session_id: SessionId,
    closing: Closing,
    now: Timestamp,
) -> Result<(), AppError> {
    let metadata = context.user_metadata(&user.id.to_string());
    close_as(app, &metadata, user, session_id, closing, now).await
}

/// Ends or revokes one session of `user`, recorded with `metadata` (who caused it).
async fn close_as(
    app: &App,
    metadata: &EventMetadata,
    user: &User,
    session_id: SessionId,
    closing: Closing,
    now: Timestamp,
) -> Result<(), AppError> {
    let command = match closing {
        Closing::End(reason) => SessionCommand::End { reason, at: now },
        Closing::Revoke(reason) => SessionCommand::Revoke { reason, at: now },
    };
    let command_context = CommandContext {
        metadata: metadata.clone(),
        data_subject: Some(user.id.to_string()),
        ..Default::default()
    };
    match app
        .commands
        .execute::<SessionAggregate>(&session_id.to_string(), command, command_context)
        .await
    {
        Ok(_) | Err(CommandError::Rejected(SessionError::NotActive | SessionError::NotFound)) => {
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// Closes every open session of `user` but `except`, the user acting; returns how many were
/// closed.
pub async fn close_all(
    app: &App,
    context: &RequestContext,
    user: &User,
    except: Option<SessionId>,
    closing: Closing,
    now: Timestamp,
) -> Result<usize, AppError> {
    let metadata = context.user_metadata(&user.id.to_string());
    close_all_as(app, &metadata, user, except, closing, now).await
}

/// Closes every open session of `user` but `except`, recorded with `metadata` (an
/// administrator locking or deleting the account is who revoked them); returns how many.
pub async fn close_all_as(
    app: &App,
    metadata: &EventMetadata,
    user: &User,
    except: Option<SessionId>,
    closing: Closing,
    now: Timestamp,
) -> Result<usize, AppError> {
    let mut closed = 0;
    for session in open_sessions(app, user, now).await? {
        if Some(session.id) != except {
            close_as(app, metadata, user, session.id, closing, now).await?;
            closed += 1;
        }
    }
    Ok(closed)
}

/// Ends the oldest sessions beyond the per-user maximum.
pub async fn enforce_maximum(
    app: &App,
    context: &RequestContext,
    user: &User,
    now: Timestamp,
) -> Result<(), AppError> {
    let Some(maximum) = app.auth.sessions.max_per_user else {
        return Ok(());
    };
    let open = open_sessions(app, user, now).await?;
    let excess = open.len().saturating_sub(maximum.max(1));
    for session in open.iter().take(excess) {
        close(
            app,
            context,
            user,
            session.id,
            Closing::End(EndReason::Replaced),
            now,
        )
        .await?;
    }
    Ok(())
}
