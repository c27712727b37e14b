//! Proving the email address and phone number: links and codes, and dropping them once expired.

use super::{ensure_active, ensure_cooldown_passed, token_error};
use crate::Timestamp;
use crate::user::{User, UserError, UserEvent};
use crate::values::{PendingToken, Reason, TokenHash};

/// Sends (again) a link to verify the current email address.
pub(super) fn request_email(user: &User, token: PendingToken) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if user.email_verified_at.is_some() {
        return Err(UserError::EmailAlreadyVerified);
    }
    ensure_cooldown_passed(
        user.email_verification.as_ref().map(|t| t.issued_at),
        token.issued_at,
    )?;
    Ok(vec![UserEvent::EmailVerificationRequested { token }])
}

/// The user followed an email verification link.
pub(super) fn confirm_email(
    user: &User,
    token_hash: TokenHash,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if user.email_verified_at.is_some() {
        return Err(UserError::EmailAlreadyVerified);
    }
    let pending = user
        .email_verification
        .as_ref()
        .ok_or(UserError::NothingToVerify)?;
    pending.check(&token_hash, at).map_err(token_error)?;
    Ok(vec![UserEvent::EmailVerified {
        email: user.email.clone().into(),
        by_hand: None,
        at,
    }])
}

/// Staff vouch for the email address; refused if it is verified already.
pub(super) fn verify_email_by_hand(
    user: &User,
    reason: Reason,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if user.email_verified_at.is_some() {
        return Err(UserError::EmailAlreadyVerified);
    }
    Ok(vec![UserEvent::EmailVerified {
        email: user.email.clone().into(),
        by_hand: Some(reason),
        at,
    }])
}

/// Staff vouch for the phone number; refused without one, or if it is verified already.
pub(super) fn verify_phone_by_hand(
    user: &User,
    reason: Reason,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    let phone = user.phone.clone().ok_or(UserError::NoPhoneNumber)?;
    if user.phone_verified_at.is_some() {
        return Err(UserError::PhoneAlreadyVerified);
    }
    Ok(vec![UserEvent::PhoneVerified {
        phone: phone.into(),
        by_hand: Some(reason),
        at,
    }])
}

/// Sends a code to verify the current phone number.
pub(super) fn request_phone(
    user: &User,
    code_hash: TokenHash,
    expires_at: Timestamp,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if user.phone.is_none() {
        return Err(UserError::NoPhoneNumber);
    }
    if user.phone_verified_at.is_some() {
        return Err(UserError::PhoneAlreadyVerified);
    }
    ensure_cooldown_passed(user.phone_verification.as_ref().map(|c| c.issued_at), at)?;
    Ok(vec![UserEvent::PhoneVerificationRequested {
        code_hash,
        issued_at: at,
        expires_at,
    }])
}

/// The user entered a phone verification code.
pub(super) fn confirm_phone(
    user: &User,
    code_hash: TokenHash,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    let phone = user.phone.clone().ok_or(UserError::NoPhoneNumber)?;
    if user.phone_verified_at.is_some() {
        return Err(UserError::PhoneAlreadyVerified);
    }
    let pending = user
        .phone_verification
        .as_ref()
        .ok_or(UserError::NothingToVerify)?;
    if pending.attempts_left == 0 {
        return Err(UserError::TooManyAttempts);
    }
    if at >= pending.expires_at {
        return Err(UserError::TokenExpired);
    }
    if pending.code_hash != code_hash {
        // A wrong code is refused *and* recorded, so the attempt limit survives retries.
        return Ok(vec![UserEvent::PhoneVerificationFailed {
            attempts_left: pending.attempts_left - 1,
            at,
        }]);
    }
    Ok(vec![UserEvent::PhoneVerified {
        phone: phone.into(),
        by_hand: None,
        at,
    }])
}

/// Drops pending verification and reset tokens that expired before `at` (maintenance).
pub(super) fn discard_expired_tokens(
    user: &User,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    let email_verification = user
        .email_verification
        .as_ref()
        .is_some_and(|token| token.expires_at <= at);
    let phone_verification = user
        .phone_verification
        .as_ref()
        .is_some_and(|code| code.expires_at <= at);
    let password_reset = user
        .password_reset
        .as_ref()
        .is_some_and(|(_, token)| token.expires_at <= at);
    if !(email_verification || phone_verification || password_reset) {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::ExpiredTokensDiscarded {
        email_verification,
        phone_verification,
        password_reset,
        at,
    }])
}
