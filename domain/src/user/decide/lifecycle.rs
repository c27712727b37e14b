//! An administrator's hold on the account: locking, unlocking, deactivating, reactivating,
//! restoring after a deletion.

use super::ensure_active;
use crate::user::{LockKind, User, UserError, UserEvent, UserStatus};
use crate::values::Reason;
use crate::{Duration, Timestamp};

/// An administrator locks the account, until `until` or until unlocked.
pub(super) fn lock(
    reason: Option<Reason>,
    until: Option<Timestamp>,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if until.is_some_and(|until| until <= at) {
        return Err(UserError::LockEndsInPast);
    }
    Ok(vec![UserEvent::AccountLocked {
        kind: LockKind::Admin,
        reason,
        until,
        at,
    }])
}

/// An administrator lifts any lock.
pub(super) fn unlock(user: &User, at: Timestamp) -> Result<Vec<UserEvent>, UserError> {
    if !user.is_locked(at) {
        return Err(UserError::NotLocked);
    }
    Ok(vec![UserEvent::AccountUnlocked { at }])
}

/// An administrator turns the account off.
pub(super) fn deactivate(
    user: &User,
    reason: Option<Reason>,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    Ok(vec![UserEvent::UserDeactivated { reason, at }])
}

/// An administrator turns a deactivated account back on.
pub(super) fn reactivate(user: &User, at: Timestamp) -> Result<Vec<UserEvent>, UserError> {
    match user.status {
        UserStatus::Deactivated => Ok(vec![UserEvent::UserReactivated { at }]),
        _ => Err(UserError::NotDeactivated),
    }
}

/// Restores a deleted user if the deletion is at most `window` old.
pub(super) fn restore(
    user: &User,
    window: Duration,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    let Some(deletion) = user.deletion.filter(|_| user.status == UserStatus::Deleted) else {
        return Err(UserError::NotDeleted);
    };
    if at > deletion.at + window {
        return Err(UserError::RestoreWindowPassed);
    }
    Ok(vec![UserEvent::UserRestored { at }])
}
