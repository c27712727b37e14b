//! A person's password: changing it (with the current one), asking for a reset link, and
//! setting a new one with the link.

use crate::authentication::CurrentSession;
use crate::authority::Authority;
use crate::credentials::password::Passwords;
use crate::login::KnownUser;
use crate::policy::{Operation, Target};
use crate::sessions::{self, Closing};
use crate::{App, AppError, RequestContext, Resource};
use commands::tokens::{TokenMinter, TokenPurpose, hash_token};
use commands::{CommandContext, CommandError};
use domain::session::RevocationReason;
use domain::user::{User, UserAggregate, UserCommand, UserError, UserState};
use domain::values::Username;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Whether `password` meets the policy for `user` (which refuses one close to their email
/// address or username).
pub(crate) fn check_new_password(
    passwords: &Passwords,
    password: &SecretString,
    user: &User,
    field: &'static str,
) -> Result<(), AppError> {
    let identifiers: Vec<&str> = [
        Some(user.email.as_str()),
        user.username.as_ref().map(Username::as_str),
    ]
    .into_iter()
    .flatten()
    .collect();
    passwords
        .check_policy(password, &identifiers)
        .map_err(|rejection| AppError::Password { field, rejection })
}

impl App {
    /// Changes the caller's password (the current one is always asked for, recent sign-in or
    /// not: it is the proof), and with `end_other_sessions` ends their other sessions.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        who: &mut Authority,
        context: &RequestContext,
        current_password: SecretString,
        new_password: SecretString,
        end_other_sessions: bool,
    ) -> Result<(), AppError> {
        let caller = who.caller().cloned().ok_or(AppError::InvalidToken)?;
        let user = caller.user;
        check_new_password(&self.passwords, &new_password, &user, "/new_password")?;
        who.confirm_password(self, Some(current_password), "/current_password")
            .await?;
        let person = who.person(self, &user).await?;
        who.require(
            Operation::ChangeOwnPassword,
            Target::Person(&person),
            Resource::Session,
        )
        .map_err(AppError::hidden_as_invalid_token)?;
        let password_hash = self.passwords.hash(new_password).await?;
        let now = chrono::Utc::now();
        let user_id = user.id.to_string();
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id),
            ..Default::default()
        };
        let command = UserCommand::ChangePassword {
            password_hash,
            at: now,
        };
        let executed = self
            .commands
            .execute::<UserAggregate>(&user_id, command, command_context)
            .await?;
        if end_other_sessions && let UserState::Present(user) = &executed.state {
            let closing = Closing::Revoke(RevocationReason::PasswordChanged);
            sessions::close_all(
                self,
                context,
                user,
                Some(caller.session.session_id),
                closing,
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Sends a reset link if `email` belongs to an active account. The work happens after the
    /// caller is answered, so neither its result nor its duration says anything.
    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(
        self: &Arc<Self>,
        context: &RequestContext,
        email: &str,
    ) -> Result<(), AppError> {
        self.refuse_blocked_address(context).await?;
        let email = email.trim().to_owned();
        self.rate_limits
            .forgot_per_ip
            .check(context.ip.as_deref().unwrap_or_default())?;
        self.rate_limits.forgot_per_account.check(&email)?;
        let app = Arc::clone(self);
        let context = context.clone();
        self.background.spawn(async move {
            if let Err(error) = app.send_reset_link(&context, &email).await {
                tracing::error!(%error, "password reset request failed");
            }
        });
        Ok(())
    }

    async fn send_reset_link(&self, context: &RequestContext, email: &str) -> Result<(), AppError> {
        if !email.contains('@') {
            return Ok(());
        }
        let Some(KnownUser { user, .. }) = self.known_user(email).await? else {
            return Ok(());
        };
        let (token, _) = self.tokens.issue(
            TokenPurpose::PasswordReset,
            user.id,
            chrono::Utc::now(),
            self.auth.password_reset_lifetime,
        );
        let user_id = user.id.to_string();
        // Whoever asked is not known to be the account's owner.
        let command_context = CommandContext {
            metadata: context.anonymous_metadata(),
            ..Default::default()
        };
        match self
            .commands
            .execute::<UserAggregate>(
                &user_id,
                UserCommand::RequestPasswordReset { token },
                command_context,
            )
            .await
        {
            // An inactive account gets no link.
            Ok(_) | Err(CommandError::Rejected(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Sets a new password with a reset link's token, and ends every session of the user.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        context: &RequestContext,
        token: SecretString,
        new_password: SecretString,
    ) -> Result<(), AppError> {
        self.refuse_blocked_address(context).await?;
        let invalid = || AppError::User(CommandError::Rejected(UserError::InvalidToken));
        let user_id = TokenMinter::user_of(token.expose_secret()).ok_or_else(invalid)?;
        let user = self
            .user_in_stream(&user_id.to_string())
            .await?
            .map(|known| known.user)
            .ok_or_else(invalid)?;
        check_new_password(&self.passwords, &new_password, &user, "/new_password")?;
        let token_hash = hash_token(token.expose_secret());
        // Check the token before paying for a hash; the command checks it again, atomically.
        if user
            .password_reset
            .as_ref()
            .is_none_or(|(_, pending)| pending.token_hash != token_hash)
        {
            return Err(invalid());
        }
        let password_hash = self.passwords.hash(new_password).await?;
        let now = chrono::Utc::now();
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id.to_string()),
            ..Default::default()
        };
        let command = UserCommand::CompletePasswordReset {
            token_hash,
            password_hash,
            at: now,
        };
        let executed = self
            .commands
            .execute::<UserAggregate>(&user_id.to_string(), command, command_context)
            .await?;
        if let UserState::Present(user) = &executed.state {
            sessions::close_all(
                self,
                context,
                user,
                None,
                Closing::Revoke(RevocationReason::PasswordReset),
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// The open sessions of the caller, oldest first.
    pub async fn own_sessions(
        &self,
        current: &CurrentSession,
    ) -> Result<Vec<domain::session::Session>, AppError> {
        let user = self.signed_in_user(current).await?;
        sessions::open_sessions(self, &user, chrono::Utc::now()).await
    }

    /// Revokes one of the caller's sessions; someone else's is "not found".
    pub async fn end_own_session(
        &self,
        context: &RequestContext,
        current: &CurrentSession,
        session_id: domain::SessionId,
    ) -> Result<(), AppError> {
        let user = self.signed_in_user(current).await?;
        let now = chrono::Utc::now();
        let open = sessions::open_sessions(self, &user, now).await?;
        if !open.iter().any(|session| session.id == session_id) {
            return Err(AppError::NotFound(Resource::Session));
        }
        sessions::close(
            self,
            context,
            &user,
            session_id,
            Closing::Revoke(RevocationReason::Revoked),
            now,
        )
        .await
    }
}
