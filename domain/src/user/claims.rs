//! The unique values (email, username, phone) that a user's events take or release.

use super::{UserEvent, UserState, UserStatus};
use crate::values::{Email, PhoneNumber, Username};
use crate::{ClaimChange, ClaimKind};

/// [`Aggregate::claims`](crate::Aggregate::claims) for users.
pub(super) fn claims(state: &UserState, events: &[UserEvent]) -> Vec<ClaimChange> {
    let mut claims = Vec::new();
    let mut change = |kind, old: Option<&str>, new: Option<&str>| {
        if let Some(old) = old {
            claims.push(ClaimChange::release(kind, old));
        }
        if let Some(new) = new {
            claims.push(ClaimChange::take(kind, new));
        }
    };
    for event in events {
        match event {
            UserEvent::UserRegistered {
                email,
                username,
                phone,
                ..
            }
            | UserEvent::UserCreated {
                email,
                username,
                phone,
                ..
            } => {
                change(ClaimKind::Email, None, email.known().map(Email::as_str));
                change(
                    ClaimKind::Username,
                    None,
                    username.as_ref().map(Username::as_str),
                );
                change(
                    ClaimKind::Phone,
                    None,
                    phone.as_ref().map(PhoneNumber::as_str),
                );
            }
            UserEvent::EmailChanged {
                old_email,
                new_email,
                ..
            } => {
                change(
                    ClaimKind::Email,
                    old_email.known().map(Email::as_str),
                    new_email.known().map(Email::as_str),
                );
            }
            UserEvent::PhoneChanged {
                old_phone,
                new_phone,
                ..
            } => change(
                ClaimKind::Phone,
                old_phone.as_ref().map(PhoneNumber::as_str),
                new_phone.as_ref().map(PhoneNumber::as_str),
            ),
            UserEvent::UsernameChanged {
                old_username,
                new_username,
                ..
            } => change(
                ClaimKind::Username,
                old_username.as_ref().map(Username::as_str),
                new_username.as_ref().map(Username::as_str),
            ),
            // A restored user takes their values again (refused if someone took one since).
            UserEvent::UserRestored { .. } => {
                if let Some(user) = state
                    .user()
                    .filter(|user| user.status == UserStatus::Deleted)
                {
                    change(ClaimKind::Email, None, Some(user.email.as_str()));
                    change(
                        ClaimKind::Username,
                        None,
                        user.username.as_ref().map(Username::as_str),
                    );
                    change(
                        ClaimKind::Phone,
                        None,
                        user.phone.as_ref().map(PhoneNumber::as_str),
                    );
                }
            }
            // A deleted user's values were released when they were deleted.
            UserEvent::UserDeleted { .. } | UserEvent::UserForgotten { .. } => {
                if let Some(user) = state
                    .user()
                    .filter(|user| user.status != UserStatus::Deleted)
                {
                    change(ClaimKind::Email, Some(user.email.as_str()), None);
                    change(
                        ClaimKind::Username,
                        user.username.as_ref().map(Username::as_str),
                        None,
                    );
                    change(
                        ClaimKind::Phone,
                        user.phone.as_ref().map(PhoneNumber::as_str),
                        None,
                    );
                }
            }
            _ => {}
        }
    }
    claims
}
