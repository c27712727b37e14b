//! Passwords and logins: changing and resetting the password, counting failed logins into
//! policy locks.

use super::{ensure_active, token_error};
use crate::user::{LockKind, LockoutPolicy, ResetPurpose, User, UserError, UserEvent};
use crate::values::{PasswordHash, PendingToken, TokenHash};
use crate::{SessionId, Timestamp};

/// The user changed their password (the caller checked the current one).
pub(super) fn change_password(
    user: &User,
    password_hash: PasswordHash,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    Ok(vec![UserEvent::PasswordChanged { password_hash, at }])
}

/// Issues a password reset link; for a user without a password yet, a new invitation.
pub(super) fn request_password_reset(
    user: &User,
    token: PendingToken,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    let purpose = if user.has_password() {
        ResetPurpose::Reset
    } else {
        ResetPurpose::Invitation
    };
    Ok(vec![UserEvent::PasswordResetRequested { purpose, token }])
}

/// The user presented a reset (or invitation) token with a new password.
pub(super) fn complete_password_reset(
    user: &User,
    token_hash: TokenHash,
    password_hash: PasswordHash,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    let (_, pending) = user
        .password_reset
        .as_ref()
        .ok_or(UserError::InvalidToken)?;
    pending.check(&token_hash, at).map_err(token_error)?;
    let mut events = vec![UserEvent::PasswordResetCompleted { password_hash, at }];
    // The link reached the inbox, which proves the address as a verification link would.
    if user.email_verified_at.is_none() {
        events.push(UserEvent::EmailVerified {
            email: user.email.clone().into(),
            at,
        });
    }
    Ok(events)
}

/// A correct password was presented (the caller verified it).
pub(super) fn record_successful_login(
    user: &User,
    session_id: Option<SessionId>,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if let Some(lock) = user.active_lock(at) {
        return Err(UserError::Locked { until: lock.until });
    }
    if !user.has_password() {
        return Err(UserError::NoPassword);
    }
    Ok(vec![UserEvent::LoginSucceeded { session_id, at }])
}

/// A wrong password was presented: counted, and the account locked when `policy` says so.
pub(super) fn record_failed_login(
    user: &User,
    policy: LockoutPolicy,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if let Some(lock) = user.active_lock(at) {
        return Err(UserError::Locked { until: lock.until });
    }
    // After a lock has run out the count starts again.
    let previous = if user.lock.is_some() {
        0
    } else {
        user.failed_logins
    };
    let failed_attempts = previous + 1;
    let mut events = vec![UserEvent::LoginFailed {
        failed_attempts,
        at,
    }];
    if failed_attempts >= policy.max_failed_attempts {
        events.push(UserEvent::AccountLocked {
            kind: LockKind::Policy,
            reason: None,
            until: Some(at + policy.lock_duration_after(user.policy_locks)),
            at,
        });
    }
    Ok(events)
}
