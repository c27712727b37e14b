//! The TOTP second factor: enrolling, confirming, turning off, and spending codes at login.

use super::ensure_active;
use crate::Timestamp;
use crate::user::{Totp, User, UserError, UserEvent};
use crate::values::TokenHash;

/// Starts (or restarts) enrollment with a new sealed secret.
pub(super) fn start_enrollment(
    user: &User,
    sealed_secret: String,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if user.has_mfa() {
        return Err(UserError::TotpAlreadyEnabled);
    }
    Ok(vec![UserEvent::TotpEnrollmentStarted { sealed_secret, at }])
}

/// A first code proved the enrollment (the caller checked it against the secret).
pub(super) fn confirm(
    user: &User,
    step: u64,
    recovery_codes: Vec<TokenHash>,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    match &user.totp {
        None => Err(UserError::TotpNotEnrolled),
        Some(totp) if totp.enabled => Err(UserError::TotpAlreadyEnabled),
        Some(_) => Ok(vec![UserEvent::TotpEnabled {
            step,
            recovery_codes,
            at,
        }]),
    }
}

/// Turns TOTP off (the caller checked the password).
pub(super) fn disable(user: &User, at: Timestamp) -> Result<Vec<UserEvent>, UserError> {
    if !user.has_mfa() {
        return Err(UserError::TotpNotEnrolled);
    }
    Ok(vec![UserEvent::TotpDisabled { at }])
}

/// A code for `step` was presented at login (the caller checked it): good once, and never
/// for a step before the last one accepted.
pub(super) fn use_code(user: &User, step: u64, at: Timestamp) -> Result<Vec<UserEvent>, UserError> {
    let totp = enabled(user)?;
    if totp.last_used_step.is_some_and(|last| step <= last) {
        return Err(UserError::TotpCodeReused);
    }
    Ok(vec![UserEvent::TotpCodeUsed { step, at }])
}

/// A recovery code was presented at login: used up if it is one of the unused ones.
pub(super) fn use_recovery_code(
    user: &User,
    code_hash: TokenHash,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    let totp = enabled(user)?;
    if !totp.recovery_codes.contains(&code_hash) {
        return Err(UserError::InvalidRecoveryCode);
    }
    Ok(vec![UserEvent::RecoveryCodeUsed { code_hash, at }])
}

/// The user's TOTP, if it is on.
fn enabled(user: &User) -> Result<&Totp, UserError> {
    user.totp
        .as_ref()
        .filter(|totp| totp.enabled)
        .ok_or(UserError::TotpNotEnrolled)
}
