//! Deciding what a command does to a user. Each concern's rules live in a submodule; this
//! module starts streams, takes batches apart, and hands everything else to the rule it is for.

mod credentials;
mod lifecycle;
mod mfa;
mod organizations;
mod profile;
mod verification;

use super::{
    FirstCredential, RESEND_COOLDOWN, ResetPurpose, User, UserAggregate, UserCommand, UserError,
    UserEvent, UserState, UserStatus,
};
use crate::values::TokenRejection;
use crate::{Aggregate, Timestamp};

/// [`Aggregate::decide`] for users.
pub(super) fn decide(state: &UserState, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
    match (state, command) {
        (state, UserCommand::Batch(commands)) => {
            let mut state = state.clone();
            let mut events = Vec::new();
            for command in commands {
                let decided = decide(&state, command)?;
                state = decided.iter().fold(state, UserAggregate::evolve);
                events.extend(decided);
            }
            Ok(events)
        }
        (
            UserState::Absent,
            UserCommand::Register {
                user,
                password_hash,
                email_verification,
                at,
            },
        ) => Ok(vec![
            UserEvent::UserRegistered {
                user_id: user.user_id,
                email: user.email.into(),
                username: user.username,
                phone: user.phone,
                first_name: user.first_name,
                last_name: user.last_name,
                roles: user.roles,
                password_hash,
                preferred_language: user.preferred_language,
                at,
            },
            UserEvent::EmailVerificationRequested {
                token: email_verification,
            },
        ]),
        (
            UserState::Absent,
            UserCommand::Create {
                user,
                credential,
                at,
            },
        ) => {
            let (password_hash, then) = match credential {
                FirstCredential::Password {
                    password_hash,
                    temporary,
                    email_verification,
                } => {
                    let mut then = vec![UserEvent::EmailVerificationRequested {
                        token: email_verification,
                    }];
                    if temporary {
                        then.push(UserEvent::PasswordChangeRequired { at });
                    }
                    (Some(password_hash), then)
                }
                FirstCredential::Invitation(token) => (
                    None,
                    vec![UserEvent::PasswordResetRequested {
                        purpose: ResetPurpose::Invitation,
                        token,
                    }],
                ),
            };
            let mut events = vec![UserEvent::UserCreated {
                user_id: user.user_id,
                email: user.email.into(),
                username: user.username,
                phone: user.phone,
                first_name: user.first_name,
                last_name: user.last_name,
                roles: user.roles,
                password_hash,
                preferred_language: user.preferred_language,
                at,
            }];
            events.extend(then);
            Ok(events)
        }
        (
            UserState::Present(_) | UserState::Forgotten(_),
            UserCommand::Register { .. } | UserCommand::Create { .. },
        ) => Err(UserError::AlreadyExists),
        (UserState::Absent, _) => Err(UserError::NotFound),
        (UserState::Forgotten(_), _) => Err(UserError::Forgotten),
        (UserState::Present(_), UserCommand::Forget { at }) => {
            Ok(vec![UserEvent::UserForgotten { at }])
        }
        (UserState::Present(user), UserCommand::Restore { window, at }) => {
            lifecycle::restore(user, window, at)
        }
        (UserState::Present(user), command) => decide_existing(user, command),
    }
}

/// A command for a user who exists: which rule decides it.
fn decide_existing(user: &User, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
    use UserCommand as C;
    // A deleted user's stream keeps its history but takes no more commands (forgetting, the
    // one exception, is decided before this).
    if user.status == UserStatus::Deleted {
        return Err(UserError::Deleted);
    }
    match command {
        C::Register { .. } | C::Create { .. } => Err(UserError::AlreadyExists),

        C::RequestEmailVerification { token } => verification::request_email(user, token),
        C::VerifyEmailByHand { reason, at } => verification::verify_email_by_hand(user, reason, at),
        C::VerifyPhoneByHand { reason, at } => verification::verify_phone_by_hand(user, reason, at),
        C::ConfirmEmailVerification { token_hash, at } => {
            verification::confirm_email(user, token_hash, at)
        }
        C::RequestPhoneVerification {
            code_hash,
            expires_at,
            at,
        } => verification::request_phone(user, code_hash, expires_at, at),
        C::ConfirmPhoneVerification { code_hash, at } => {
            verification::confirm_phone(user, code_hash, at)
        }
        C::DiscardExpiredTokens { at } => verification::discard_expired_tokens(user, at),

        C::UpdateProfile {
            first_name,
            last_name,
            profile,
            at,
        } => profile::update(user, first_name, last_name, profile, at),
        C::ChangeEmail {
            email,
            verification,
        } => profile::change_email(user, email, verification),
        C::ChangePhone { phone, at } => profile::change_phone(user, phone, at),
        C::ChangeUsername { username, at } => profile::change_username(user, username, at),
        C::GrantRole { role, at } => profile::grant_role(user, role, at),
        C::RevokeRole { role, at } => profile::revoke_role(user, role, at),
        C::SetProfilePicture { picture, at } => profile::set_picture(user, picture, at),
        C::RemoveProfilePicture { at } => profile::remove_picture(user, at),
        C::SetRoleProfile {
            role,
            definition,
            values,
            at,
        } => profile::set_role_profile(user, role, &definition, &values, at),

        C::ChangePassword { password_hash, at } => {
            credentials::change_password(user, password_hash, at)
        }
        C::SetPassword {
            password_hash,
            temporary,
            at,
        } => credentials::set_password(password_hash, temporary, at),
        C::RequestRequiredPasswordChange { token } => {
            credentials::request_required_change(user, token)
        }
        C::RequestPasswordReset { token } => credentials::request_password_reset(user, token),
        C::CompletePasswordReset {
            token_hash,
            password_hash,
            at,
        } => credentials::complete_password_reset(user, token_hash, password_hash, at),
        C::RecordSuccessfulLogin {
            session_id,
            device,
            at,
        } => credentials::record_successful_login(user, session_id, device, at),
        C::RecordFailedLogin { policy, at } => credentials::record_failed_login(user, policy, at),

        C::StartTotpEnrollment { sealed_secret, at } => {
            mfa::start_enrollment(user, sealed_secret, at)
        }
        C::ConfirmTotp {
            step,
            recovery_codes,
            at,
        } => mfa::confirm(user, step, recovery_codes, at),
        C::DisableTotp { at } => mfa::disable(user, at),
        C::UseTotpCode { step, at } => mfa::use_code(user, step, at),
        C::UseRecoveryCode { code_hash, at } => mfa::use_recovery_code(user, code_hash, at),

        C::Lock { reason, until, at } => lifecycle::lock(reason, until, at),
        C::Unlock { at } => lifecycle::unlock(user, at),
        C::Deactivate { reason, at } => lifecycle::deactivate(user, reason, at),
        C::Reactivate { at } => lifecycle::reactivate(user, at),
        C::Delete { at } => Ok(vec![UserEvent::UserDeleted { at }]),
        // Taken care of in `decide`, also for deleted users.
        C::Forget { at } => Ok(vec![UserEvent::UserForgotten { at }]),
        C::Restore { window, at } => lifecycle::restore(user, window, at),

        C::LinkOrganization {
            organization_id,
            at,
        } => organizations::link(user, organization_id, at),
        C::NoteInvitation {
            organization_id,
            organization_name,
            expires_at,
            at,
        } => organizations::note_invitation(organization_id, organization_name, expires_at, at),
        C::UnlinkOrganization {
            organization_id,
            at,
        } => organizations::unlink(user, organization_id, at),

        // Never reaches here: `decide` takes batches apart before looking at the state.
        C::Batch(_) => Err(UserError::NotFound),
    }
}

/// Refuses a deactivated (or deleted) account.
fn ensure_active(user: &User) -> Result<(), UserError> {
    match user.status {
        UserStatus::Active => Ok(()),
        UserStatus::Deactivated => Err(UserError::Deactivated),
        UserStatus::Deleted => Err(UserError::Deleted),
    }
}

fn token_error(rejection: TokenRejection) -> UserError {
    match rejection {
        TokenRejection::Mismatch => UserError::InvalidToken,
        TokenRejection::Expired => UserError::TokenExpired,
    }
}

/// Refuses to send another message within [`RESEND_COOLDOWN`] of the last one.
fn ensure_cooldown_passed(
    last_issued_at: Option<Timestamp>,
    at: Timestamp,
) -> Result<(), UserError> {
    match last_issued_at {
        Some(issued_at) if at < issued_at + RESEND_COOLDOWN => Err(UserError::TooSoon {
            retry_after_seconds: (issued_at + RESEND_COOLDOWN - at).num_seconds().max(1),
        }),
        _ => Ok(()),
    }
}
