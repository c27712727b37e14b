//! Proving an email address (a link) and a phone number (a code).

use crate::authority::Authority;
use crate::policy::Operation;
use crate::{App, AppError, RequestContext};
use commands::tokens::{TokenMinter, TokenPurpose, hash_token};
use commands::{CommandContext, CommandError};
use domain::user::{UserAggregate, UserCommand, UserError, UserEvent, UserState};
use domain::{Timestamp, UserId};
use secrecy::{ExposeSecret, SecretString};

/// Where a person's verification stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// `not_verified`, `email_verified`, `phone_verified` or `both_verified`.
    pub status: &'static str,
    /// When the email address was verified.
    pub email_verified_at: Option<Timestamp>,
    /// When the phone number was verified.
    pub phone_verified_at: Option<Timestamp>,
}

impl Verification {
    fn of(state: &UserState) -> Result<Self, AppError> {
        let UserState::Present(user) = state else {
            return Err(AppError::User(CommandError::Rejected(UserError::NotFound)));
        };
        Ok(Self {
            status: crate::views::verification_status(user),
            email_verified_at: user.email_verified_at,
            phone_verified_at: user.phone_verified_at,
        })
    }
}

impl App {
    /// The signed-in caller's id, once the policy allows them `operation` on themself.
    fn caller_for(&self, who: &Authority, operation: Operation) -> Result<UserId, AppError> {
        self.on_oneself(who, operation)?;
        Ok(who.caller().ok_or(AppError::InvalidToken)?.user.id)
    }

    /// Sends the caller a new verification link for their email address.
    #[tracing::instrument(skip_all)]
    pub async fn send_email_verification(
        &self,
        who: &Authority,
        context: &RequestContext,
    ) -> Result<(), AppError> {
        let user_id = self.caller_for(who, Operation::SendEmailVerification)?;
        let (token, _) = self.tokens.issue(
            TokenPurpose::EmailVerification,
            user_id,
            chrono::Utc::now(),
            self.auth.email_verification_lifetime,
        );
        let command_context = CommandContext {
            metadata: who.metadata(context, user_id),
            ..Default::default()
        };
        self.commands
            .execute::<UserAggregate>(
                &user_id.to_string(),
                UserCommand::RequestEmailVerification { token },
                command_context,
            )
            .await?;
        Ok(())
    }

    /// Verifies an email address with the token from the link (whoever holds the link).
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(
        &self,
        context: &RequestContext,
        token: &SecretString,
    ) -> Result<Verification, AppError> {
        let invalid = || AppError::User(CommandError::Rejected(UserError::InvalidToken));
        let user_id = TokenMinter::user_of(token.expose_secret()).ok_or_else(invalid)?;
        let command = UserCommand::ConfirmEmailVerification {
            token_hash: hash_token(token.expose_secret()),
            at: chrono::Utc::now(),
        };
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id.to_string()),
            ..Default::default()
        };
        let executed = self
            .commands
            .execute::<UserAggregate>(&user_id.to_string(), command, command_context)
            .await
            .map_err(|error| match error {
                // An unknown user and a wrong token answer alike.
                CommandError::Rejected(
                    UserError::NotFound | UserError::Deleted | UserError::NothingToVerify,
                )
                | CommandError::OtherKind { .. } => invalid(),
                other => other.into(),
            })?;
        Verification::of(&executed.state)
    }

    /// Sends a code to the caller's phone.
    #[tracing::instrument(skip_all)]
    pub async fn send_phone_code(
        &self,
        who: &Authority,
        context: &RequestContext,
    ) -> Result<(), AppError> {
        let user_id = self.caller_for(who, Operation::SendPhoneCode)?;
        // Stored times have microsecond precision; derive the code from what will be stored.
        let now = chrono::Utc::now();
        let now = Timestamp::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let (_, code_hash) = self.tokens.phone_code(user_id, now);
        let command = UserCommand::RequestPhoneVerification {
            code_hash,
            expires_at: now + self.auth.phone_code_lifetime,
            at: now,
        };
        let command_context = CommandContext {
            metadata: who.metadata(context, user_id),
            ..Default::default()
        };
        self.commands
            .execute::<UserAggregate>(&user_id.to_string(), command, command_context)
            .await?;
        Ok(())
    }

    /// Verifies the caller's phone with the code sent to it; a wrong code says how many tries
    /// are left.
    #[tracing::instrument(skip_all)]
    pub async fn verify_phone(
        &self,
        who: &Authority,
        context: &RequestContext,
        code: &SecretString,
    ) -> Result<Verification, AppError> {
        let user_id = self.caller_for(who, Operation::VerifyPhone)?;
        let code_hash = self.tokens.phone_code_hash(user_id, code.expose_secret());
        let command = UserCommand::ConfirmPhoneVerification {
            code_hash,
            at: chrono::Utc::now(),
        };
        let command_context = CommandContext {
            metadata: who.metadata(context, user_id),
            ..Default::default()
        };
        let executed = self
            .commands
            .execute::<UserAggregate>(&user_id.to_string(), command, command_context)
            .await?;
        if let Some(UserEvent::PhoneVerificationFailed { attempts_left, .. }) =
            executed.events.first()
        {
            return Err(AppError::WrongPhoneCode {
                attempts_left: *attempts_left,
            });
        }
        Verification::of(&executed.state)
    }
}
