//! Signing in and out: a password (and a second factor when it is on) starts a session, a
//! refresh token rotates, a logout ends one session or all of them.
//!
//! Every failed login answers the same ([`AppError::InvalidCredentials`]) whatever failed, and
//! costs the same: an unknown account is checked against a dummy hash and reads a stream like a
//! known one; a wrong password is recorded after the answer has gone.

use crate::authentication::CurrentSession;
use crate::credentials::totp;
use crate::sessions::{self, Closing};
use crate::views::UserView;
use crate::{App, AppError, RequestContext};
use commands::tokens::{TokenPurpose, hash_token};
use commands::{CommandContext, CommandError};
use domain::session::{
    EndReason, RevocationReason, SessionAggregate, SessionClient, SessionCommand, SessionEvent,
    SessionState,
};
use domain::user::{User, UserAggregate, UserCommand, UserEvent, UserState, UserStatus};
use domain::values::{DeviceKind, DeviceName, Email, Username};
use domain::{ClaimKind, SessionId, Timestamp, UserId};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// A login with a password.
#[derive(Debug)]
pub struct PasswordLogin {
    /// The email address or username, as typed.
    pub login: String,
    /// The password.
    pub password: SecretString,
    /// A name for the device, shown in the session list (checked once the password is).
    pub device_name: Option<String>,
}

/// The second step of a login with a second factor on.
#[derive(Debug)]
pub struct SecondFactorLogin {
    /// The token the first step gave.
    pub mfa_token: SecretString,
    /// A code of the authenticator…
    pub code: Option<SecretString>,
    /// …or one of the recovery codes (exactly one of the two).
    pub recovery_code: Option<SecretString>,
    /// A name for the device, shown in the session list.
    pub device_name: Option<String>,
}

/// What a right password gives: a session as the front end holds it (`S`: [`Tokens`] for REST,
/// [`PageSession`] for pages).
#[derive(Debug)]
pub enum SignIn<S = Tokens> {
    /// A session.
    Session(Box<S>),
    /// The password was right; the session waits for the second factor.
    SecondFactorRequired {
        /// Present it with a code to finish.
        mfa_token: String,
        /// Seconds it stays valid.
        expires_in: i64,
    },
    /// The password was right but must be changed first: no session until it is.
    PasswordChangeRequired {
        /// Present it with a new password to reset the password.
        change_token: SecretString,
        /// Seconds it stays valid.
        expires_in: i64,
    },
}

/// A session's tokens.
#[derive(Debug)]
pub struct Tokens {
    /// The signed-in user.
    pub user: UserView,
    /// The session.
    pub session_id: SessionId,
    /// The access token.
    pub access_token: String,
    /// The refresh token (shown once).
    pub refresh_token: SecretString,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// A session on the pages: the secret its cookie holds (stored hashed, never rotated).
#[derive(Debug)]
pub struct PageSession {
    /// The signed-in user.
    pub user: UserView,
    /// The session.
    pub session_id: SessionId,
    /// The cookie's secret (shown once).
    pub secret: SecretString,
}

/// A started session as one front end holds it.
pub trait StartedSession: Sized {
    /// The front end whose session this is.
    const CLIENT: SessionClient;

    /// The session `session_id` of `user`, whose secret is `secret`.
    fn new(
        app: &App,
        user: &User,
        session_id: SessionId,
        secret: SecretString,
        now: Timestamp,
    ) -> Result<Self, AppError>;
}

impl StartedSession for Tokens {
    const CLIENT: SessionClient = SessionClient::Api;

    fn new(
        app: &App,
        user: &User,
        session_id: SessionId,
        refresh_token: SecretString,
        now: Timestamp,
    ) -> Result<Self, AppError> {
        app.tokens_for(user, session_id, refresh_token, now)
    }
}

impl StartedSession for PageSession {
    const CLIENT: SessionClient = SessionClient::Page;

    fn new(
        _: &App,
        user: &User,
        session_id: SessionId,
        secret: SecretString,
        now: Timestamp,
    ) -> Result<Self, AppError> {
        Ok(Self {
            user: UserView::new(user, now),
            session_id,
            secret,
        })
    }
}

/// A user, and their stream's version when read (to decide a command on without reading again).
#[derive(Debug)]
pub struct KnownUser {
    /// The user.
    pub user: Box<User>,
    /// Their stream's version.
    pub version: u64,
}

impl App {
    /// Logs in with an email address or username and a password.
    #[tracing::instrument(skip_all)]
    pub async fn login<S: StartedSession>(
        self: &Arc<Self>,
        context: &RequestContext,
        login: PasswordLogin,
    ) -> Result<SignIn<S>, AppError> {
        self.refuse_blocked_address(context).await?;
        let typed = login.login.trim();
        self.rate_limits
            .login_per_ip
            .check(context.ip.as_deref().unwrap_or_default())?;
        self.rate_limits.login_per_account.check(typed)?;
        let known = self.known_user(typed).await?;
        // Unknown accounts are checked against a dummy hash: same cost, same answer.
        let hash = known
            .as_ref()
            .and_then(|known| known.user.password_hash.as_ref());
        let password_matches = self.passwords.verify(login.password, hash).await?;
        let Some(KnownUser { user, version }) = known else {
            return Err(AppError::InvalidCredentials);
        };
        let now = chrono::Utc::now();
        if !password_matches {
            // Recorded after answering: a wrong password then costs what an unknown account
            // costs. The count stays exact (one stream, optimistic concurrency); the lock is in
            // place long before a next guess has been hashed.
            self.record_failed_login_later(context.clone(), user, now);
            return Err(AppError::InvalidCredentials);
        }
        // The right password: now it may be said that an organization keeps the user out.
        for id in &user.organizations {
            if let Some((organization, _)) = self.organization(*id).await?
                && organization.members.contains_key(&user.id)
                && !organization.status.allows_login()
            {
                return Err(AppError::OrganizationOutOfService(organization.status));
            }
        }
        let device = device_name(login.device_name.as_deref())?;
        if user.password_change_required {
            return self
                .required_password_change(context, user, version, now)
                .await;
        }
        if user.has_mfa() {
            let mfa_token = self
                .access_tokens
                .current()
                .mint_mfa(user.id, now)
                .map_err(AppError::internal)?;
            return Ok(SignIn::SecondFactorRequired {
                mfa_token,
                expires_in: crate::credentials::jwt::MFA_TOKEN_LIFETIME.num_seconds(),
            });
        }
        let tokens = self
            .complete_login(context, user, version, Vec::new(), device, now)
            .await?;
        Ok(SignIn::Session(Box::new(tokens)))
    }

    /// The token that changes a password that must be changed, given instead of a session (on
    /// a sign-in's terms: refused like one when locked or deactivated).
    async fn required_password_change<S>(
        &self,
        context: &RequestContext,
        user: Box<User>,
        version: u64,
        now: Timestamp,
    ) -> Result<SignIn<S>, AppError> {
        let user_id = user.id.to_string();
        let lifetime = self.auth.password_reset_lifetime;
        let (token, change_token) =
            self.tokens
                .issue(TokenPurpose::PasswordReset, user.id, now, lifetime);
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id),
            ..Default::default()
        };
        match self
            .commands
            .execute_on::<UserAggregate>(
                &user_id,
                UserState::Present(user),
                version,
                UserCommand::RequestRequiredPasswordChange { token },
                command_context,
            )
            .await
        {
            Ok(_) => Ok(SignIn::PasswordChangeRequired {
                change_token,
                expires_in: lifetime.num_seconds(),
            }),
            Err(CommandError::Rejected(error)) => {
                tracing::info!(%user_id, %error, "login refused");
                Err(AppError::InvalidCredentials)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Finishes a login with a TOTP or recovery code. A wrong code counts as a failed login.
    #[tracing::instrument(skip_all)]
    pub async fn login_with_second_factor<S: StartedSession>(
        self: &Arc<Self>,
        context: &RequestContext,
        login: SecondFactorLogin,
    ) -> Result<S, AppError> {
        self.refuse_blocked_address(context).await?;
        let user_id = self
            .access_tokens
            .current()
            .validate_mfa(login.mfa_token.expose_secret())
            .map_err(|error| {
                tracing::info!(%error, "MFA token refused");
                AppError::InvalidCredentials
            })?;
        self.rate_limits
            .login_per_account
            .check(&user_id.to_string())?;
        let device = device_name(login.device_name.as_deref())?;
        let Some(KnownUser { user, version }) = self.user_in_stream(&user_id.to_string()).await?
        else {
            return Err(AppError::InvalidCredentials);
        };
        let Some(enabled) = user.totp.as_ref().filter(|totp| totp.enabled) else {
            return Err(AppError::InvalidCredentials);
        };
        let now = chrono::Utc::now();
        let proof = match (&login.code, &login.recovery_code) {
            (Some(code), None) => {
                let secret = self
                    .totp
                    .open(user.id, &enabled.sealed_secret)
                    .map_err(AppError::internal)?;
                totp::matching_step(
                    &secret,
                    code.expose_secret(),
                    totp::step_of(now.timestamp()),
                )
                .map(|step| UserCommand::UseTotpCode { step, at: now })
            }
            (None, Some(code)) => {
                let code_hash = self
                    .tokens
                    .recovery_code_hash(user.id, code.expose_secret());
                Some(UserCommand::UseRecoveryCode { code_hash, at: now })
            }
            _ => return Err(AppError::Malformed("Send either code or recovery_code.")),
        };
        let Some(proof) = proof else {
            // A wrong code counts toward the lockout like a wrong password.
            self.record_failed_login_later(context.clone(), user, now);
            return Err(AppError::InvalidCredentials);
        };
        self.complete_login(context, user, version, vec![proof], device, now)
            .await
    }

    /// Records a successful login (after `proofs`, such as a TOTP code, in the same append),
    /// starts the session and gives it as its front end holds it.
    async fn complete_login<S: StartedSession>(
        &self,
        context: &RequestContext,
        user: Box<User>,
        version: u64,
        proofs: Vec<UserCommand>,
        device: Option<DeviceName>,
        now: Timestamp,
    ) -> Result<S, AppError> {
        let user_id = user.id.to_string();
        let session_id = SessionId::from_uuid(uuid::Uuid::now_v7());
        let mut commands = proofs;
        commands.push(UserCommand::RecordSuccessfulLogin {
            session_id: Some(session_id),
            device: context.user_agent.as_deref().map(DeviceKind::of_user_agent),
            at: now,
        });
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id),
            ..Default::default()
        };
        let executed = match self
            .commands
            .execute_on::<UserAggregate>(
                &user_id,
                UserState::Present(user),
                version,
                UserCommand::Batch(commands),
                command_context,
            )
            .await
        {
            Ok(executed) => executed,
            // Locked (a correct password changes nothing), deactivated, no password yet, or a
            // second factor refused.
            Err(CommandError::Rejected(error)) => {
                tracing::info!(%user_id, %error, "login refused");
                return Err(AppError::InvalidCredentials);
            }
            Err(error) => return Err(error.into()),
        };
        let UserState::Present(user) = executed.state else {
            return Err(AppError::internal(std::io::Error::other(
                "login produced no user",
            )));
        };
        let secret =
            sessions::start(self, context, &user, session_id, S::CLIENT, device, now).await?;
        sessions::enforce_maximum(self, context, &user, now).await?;
        tracing::info!(%user_id, %session_id, client = %S::CLIENT, "logged in");
        S::new(self, &user, session_id, secret, now)
    }

    /// The tokens of `session_id`, a session of `user`.
    fn tokens_for(
        &self,
        user: &User,
        session_id: SessionId,
        refresh_token: SecretString,
        now: Timestamp,
    ) -> Result<Tokens, AppError> {
        let keys = self.access_tokens.current();
        let access_token = keys
            .mint(user.id, session_id, now)
            .map_err(AppError::internal)?;
        Ok(Tokens {
            user: UserView::new(user, now),
            session_id,
            access_token,
            refresh_token,
            expires_in: keys.lifetime().num_seconds(),
        })
    }

    /// Counts a failed login after the answer has gone (see [`Self::login`]), in the
    /// background work that shutdown waits for.
    fn record_failed_login_later(
        self: &Arc<Self>,
        context: RequestContext,
        user: Box<User>,
        now: Timestamp,
    ) {
        let app = Arc::clone(self);
        self.background.spawn(async move {
            if let Err(error) = app.record_failed_login(&context, &user, now).await {
                tracing::error!(user_id = %user.id, %error, "recording a failed login failed");
            }
        });
    }

    /// Counts a failed login; the one that reaches the limit locks the account and ends its
    /// sessions.
    async fn record_failed_login(
        &self,
        context: &RequestContext,
        user: &User,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let user_id = user.id.to_string();
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id),
            ..Default::default()
        };
        let command = UserCommand::RecordFailedLogin {
            policy: self.auth.lockout,
            at: now,
        };
        match self
            .commands
            .execute::<UserAggregate>(&user_id, command, command_context)
            .await
        {
            Ok(executed) => {
                if executed
                    .events
                    .iter()
                    .any(|event| matches!(event, UserEvent::AccountLocked { .. }))
                {
                    tracing::warn!(%user_id, "account locked after failed logins");
                    if let UserState::Present(locked) = &executed.state {
                        let closing = Closing::Revoke(RevocationReason::UserLocked);
                        sessions::close_all(self, context, locked, None, closing, now).await?;
                    }
                }
                Ok(())
            }
            // Already locked or deactivated: nothing more to count.
            Err(CommandError::Rejected(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Rotates a refresh token. A token already rotated away revokes the whole session.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        context: &RequestContext,
        refresh_token: &SecretString,
    ) -> Result<Tokens, AppError> {
        self.refuse_blocked_address(context).await?;
        self.rate_limits
            .refresh_per_ip
            .check(context.ip.as_deref().unwrap_or_default())?;
        let session_id =
            sessions::session_of_refresh_token(refresh_token).ok_or(AppError::InvalidToken)?;
        let loaded = self
            .commands
            .current::<SessionAggregate>(&session_id.to_string())
            .await
            .map_err(|error| match error {
                // A token naming another kind of stream is no session's.
                CommandError::OtherKind { .. } => AppError::InvalidToken,
                error => error.into(),
            })?;
        let SessionState::Present(session) = loaded.state else {
            return Err(AppError::InvalidToken);
        };
        if session.client != SessionClient::Api {
            return Err(AppError::InvalidToken);
        }
        let now = chrono::Utc::now();
        let Some(KnownUser { user, .. }) =
            self.user_in_stream(&session.user_id.to_string()).await?
        else {
            return Err(AppError::InvalidToken);
        };
        if user.status != UserStatus::Active || user.is_locked(now) {
            // Closing these sessions should have happened with the lock; make sure it did.
            sessions::close(
                self,
                context,
                &user,
                session_id,
                Closing::Revoke(RevocationReason::UserLocked),
                now,
            )
            .await?;
            return Err(AppError::InvalidToken);
        }
        let (new_token, new_hash) = sessions::new_refresh_token(session_id);
        let command = SessionCommand::Refresh {
            presented_hash: hash_token(refresh_token.expose_secret()),
            new_hash,
            at: now,
        };
        let user_id = user.id.to_string();
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id),
            data_subject: Some(user_id.clone()),
            ..Default::default()
        };
        let executed = self
            .commands
            .execute::<SessionAggregate>(&session_id.to_string(), command, command_context)
            .await?;
        if executed
            .events
            .iter()
            .any(|event| matches!(event, SessionEvent::SessionRevoked { .. }))
        {
            tracing::warn!(%user_id, %session_id, "a rotated refresh token was presented again: session revoked");
            return Err(AppError::InvalidToken);
        }
        self.tokens_for(&user, session_id, new_token, now)
    }

    /// Ends the caller's session.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        context: &RequestContext,
        current: &CurrentSession,
    ) -> Result<(), AppError> {
        let user = self.signed_in_user(current).await?;
        sessions::close(
            self,
            context,
            &user,
            current.session_id,
            Closing::End(EndReason::Logout),
            chrono::Utc::now(),
        )
        .await
    }

    /// Ends every session of the caller, this one included.
    #[tracing::instrument(skip_all)]
    pub async fn logout_everywhere(
        &self,
        context: &RequestContext,
        current: &CurrentSession,
    ) -> Result<(), AppError> {
        let user = self.signed_in_user(current).await?;
        let closing = Closing::Revoke(RevocationReason::LogoutAll);
        sessions::close_all(self, context, &user, None, closing, chrono::Utc::now()).await?;
        Ok(())
    }

    /// The user of a checked access token (deleted ones no longer sign in).
    pub async fn signed_in_user(&self, current: &CurrentSession) -> Result<Box<User>, AppError> {
        self.user_in_stream(&current.user_id.to_string())
            .await?
            .map(|known| known.user)
            .ok_or(AppError::InvalidToken)
    }

    /// The user owning an email address or username, as typed at login or password-forgot.
    pub async fn known_user(&self, login: &str) -> Result<Option<KnownUser>, AppError> {
        let owner = if login.contains('@') {
            match Email::parse(login) {
                Ok(email) => {
                    self.commands
                        .find_owner(ClaimKind::Email, email.as_str())
                        .await
                }
                Err(_) => return Ok(None),
            }
        } else {
            match Username::parse(login) {
                Ok(username) => {
                    self.commands
                        .find_owner(ClaimKind::Username, username.as_str())
                        .await
                }
                Err(_) => return Ok(None),
            }
        }
        .map_err(AppError::internal)?;
        let Some(stream_id) = owner else {
            // Read a stream anyway, so an unknown account makes the same round trips as a
            // known one.
            self.user_in_stream(&UserId::from_uuid(uuid::Uuid::now_v7()).to_string())
                .await?;
            return Ok(None);
        };
        self.user_in_stream(&stream_id).await
    }

    /// The user of a stream, unless there is none or it was deleted.
    pub async fn user_in_stream(&self, stream_id: &str) -> Result<Option<KnownUser>, AppError> {
        let loaded = match self.commands.current::<UserAggregate>(stream_id).await {
            Ok(loaded) => loaded,
            // An id of another kind (from a crafted token) names no user.
            Err(CommandError::OtherKind { .. }) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        Ok(match loaded.state {
            UserState::Present(user) if user.status != UserStatus::Deleted => Some(KnownUser {
                user,
                version: loaded.version,
            }),
            _ => None,
        })
    }
}

/// A device name as typed, if any.
fn device_name(raw: Option<&str>) -> Result<Option<DeviceName>, AppError> {
    Ok(raw.map(DeviceName::parse).transpose()?)
}
