//! A second factor: TOTP enrollment, its confirmation with a first code (which hands out the
//! recovery codes), and turning it off (with the password).

use crate::authority::Authority;
use crate::credentials::totp;
use crate::policy::{Operation, Target};
use crate::{App, AppError, RequestContext, Resource};
use commands::{CommandContext, CommandError};
use domain::user::{UserAggregate, UserCommand, UserError};
use secrecy::{ExposeSecret, SecretString};

/// A started enrollment: what the authenticator app needs.
#[derive(Debug)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

impl App {
    /// Asks the policy for `operation` on the signed-in caller themself.
    pub(crate) fn on_oneself(&self, who: &Authority, operation: Operation) -> Result<(), AppError> {
        let caller = who.caller().ok_or(AppError::InvalidToken)?;
        // Whether the caller's roles are privileged changes nothing about acting on oneself.
        let person = who.person_without_roles(caller.user.id);
        who.require(operation, Target::Person(&person), Resource::Session)
            .map_err(AppError::hidden_as_invalid_token)
    }

    /// Starts TOTP enrollment with a fresh secret; [`Self::confirm_totp`] turns it on.
    #[tracing::instrument(skip_all)]
    pub async fn enroll_totp(
        &self,
        who: &Authority,
        context: &RequestContext,
    ) -> Result<TotpEnrollment, AppError> {
        self.on_oneself(who, Operation::EnrollMfa)?;
        let caller = who.caller().ok_or(AppError::InvalidToken)?;
        let secret = totp::new_secret();
        let command = UserCommand::StartTotpEnrollment {
            sealed_secret: self.totp.seal(caller.user.id, &secret),
            at: chrono::Utc::now(),
        };
        let command_context = CommandContext {
            metadata: who.metadata(context, caller.user.id),
            ..Default::default()
        };
        self.on_user(
            caller.user.clone(),
            caller.version,
            command,
            command_context,
        )
        .await?;
        Ok(self.enrollment(&caller.user, &secret))
    }

    /// What an authenticator app needs for `secret`, the TOTP secret of `user`.
    fn enrollment(&self, user: &domain::user::User, secret: &[u8]) -> TotpEnrollment {
        let issuer = self.access_tokens.current().issuer().to_owned();
        TotpEnrollment {
            secret: data_encoding::BASE32_NOPAD.encode(secret),
            otpauth_uri: totp::otpauth_uri(&issuer, user.email.as_str(), secret),
        }
    }

    /// The caller's enrollment that waits for its first code, as [`Self::enroll_totp`] gave
    /// it (to show it again after a wrong code); none when TOTP is off or already on.
    pub fn pending_totp(&self, who: &Authority) -> Result<Option<TotpEnrollment>, AppError> {
        self.on_oneself(who, Operation::EnrollMfa)?;
        let caller = who.caller().ok_or(AppError::InvalidToken)?;
        let Some(pending) = caller.user.totp.as_ref().filter(|totp| !totp.enabled) else {
            return Ok(None);
        };
        let secret = self
            .totp
            .open(caller.user.id, &pending.sealed_secret)
            .map_err(AppError::internal)?;
        Ok(Some(self.enrollment(&caller.user, &secret)))
    }

    /// Turns TOTP on with a first code from the authenticator; answers the recovery codes
    /// (shown once).
    #[tracing::instrument(skip_all)]
    pub async fn confirm_totp(
        &self,
        who: &Authority,
        context: &RequestContext,
        code: &SecretString,
    ) -> Result<Vec<String>, AppError> {
        self.on_oneself(who, Operation::ConfirmMfa)?;
        let caller = who.caller().ok_or(AppError::InvalidToken)?;
        let user = &caller.user;
        let Some(enrollment) = user.totp.as_ref().filter(|totp| !totp.enabled) else {
            return Err(AppError::User(CommandError::Rejected(if user.has_mfa() {
                UserError::TotpAlreadyEnabled
            } else {
                UserError::TotpNotEnrolled
            })));
        };
        let secret = self
            .totp
            .open(user.id, &enrollment.sealed_secret)
            .map_err(AppError::internal)?;
        let now = chrono::Utc::now();
        let step = totp::matching_step(
            &secret,
            code.expose_secret(),
            totp::step_of(now.timestamp()),
        )
        .ok_or(AppError::WrongCode)?;
        let codes = totp::new_recovery_codes();
        let hashes = codes
            .iter()
            .map(|code| self.tokens.recovery_code_hash(user.id, code))
            .collect();
        let command = UserCommand::ConfirmTotp {
            step,
            recovery_codes: hashes,
            at: now,
        };
        let command_context = CommandContext {
            metadata: who.metadata(context, user.id),
            ..Default::default()
        };
        self.on_user(user.clone(), caller.version, command, command_context)
            .await?;
        Ok(codes)
    }

    /// Turns the second factor off. The password is always asked for, recent sign-in or not:
    /// it is the proof.
    #[tracing::instrument(skip_all)]
    pub async fn disable_totp(
        &self,
        who: &mut Authority,
        context: &RequestContext,
        password: SecretString,
    ) -> Result<(), AppError> {
        who.confirm_password(self, Some(password), "/password")
            .await?;
        self.on_oneself(who, Operation::DisableMfa)?;
        let user_id = who.caller().ok_or(AppError::InvalidToken)?.user.id;
        let command_context = CommandContext {
            metadata: who.metadata(context, user_id),
            ..Default::default()
        };
        self.commands
            .execute::<UserAggregate>(
                &user_id.to_string(),
                UserCommand::DisableTotp {
                    at: chrono::Utc::now(),
                },
                command_context,
            )
            .await?;
        Ok(())
    }
}
