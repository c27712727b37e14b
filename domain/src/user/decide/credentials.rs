//! Passwords and logins: changing and resetting the password, counting failed logins into
//! policy locks.

use super::{ensure_active, token_error};
use crate::user::{LockKind, LockoutPolicy, ResetPurpose, User, UserError, UserEvent};
use crate::values::{DeviceKind, PasswordHash, PendingToken, TokenHash};
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

/// An administrator sets the password, to be changed at the next sign-in if `temporary`.
pub(super) fn set_password(
    password_hash: PasswordHash,
    temporary: bool,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    let mut events = vec![UserEvent::PasswordSet { password_hash, at }];
    if temporary {
        events.push(UserEvent::PasswordChangeRequired { at });
    }
    Ok(events)
}

/// A correct password that must be changed was presented: the token to change it, on the
/// terms of a sign-in (not locked, not deactivated).
pub(super) fn request_required_change(
    user: &User,
    token: PendingToken,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if let Some(lock) = user.active_lock(token.issued_at) {
        return Err(UserError::Locked { until: lock.until });
    }
    if !user.password_change_required {
        return Err(UserError::NoPasswordChangeRequired);
    }
    Ok(vec![UserEvent::PasswordResetRequested {
        purpose: ResetPurpose::ChangeRequired,
        token,
    }])
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
    let (purpose, pending) = user
        .password_reset
        .as_ref()
        .ok_or(UserError::InvalidToken)?;
    pending.check(&token_hash, at).map_err(token_error)?;
    let mut events = vec![UserEvent::PasswordResetCompleted { password_hash, at }];
    // A link that reached the inbox proves the address as a verification link would; the
    // token of a required change came with a sign-in, not by email.
    if user.email_verified_at.is_none() && *purpose != ResetPurpose::ChangeRequired {
        events.push(UserEvent::EmailVerified {
            email: user.email.clone().into(),
            by_hand: None,
            at,
        });
    }
    Ok(events)
}

/// A correct password was presented (the caller verified it).
/// A device the account was not signed in from before is recorded too: the person is told of
/// it, unless it is the account's first device.
pub(super) fn record_successful_login(
    user: &User,
    session_id: Option<SessionId>,
    device: Option<DeviceKind>,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if let Some(lock) = user.active_lock(at) {
        return Err(UserError::Locked { until: lock.until });
    }
    if !user.has_password() {
        return Err(UserError::NoPassword);
    }
    // Until a required change is made, a sign-in gives its token, not a session.
    if user.password_change_required {
        return Err(UserError::PasswordChangeRequired);
    }
    let mut events = vec![UserEvent::LoginSucceeded { session_id, at }];
    if let Some(device) = device.filter(|device| !user.known_devices.contains(device)) {
        events.push(UserEvent::SignedInFromNewDevice {
            device,
            first: user.known_devices.is_empty(),
            at,
        });
    }
    Ok(events)
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
