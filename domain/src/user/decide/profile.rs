//! What a user is known by: names and profile, email, phone, username, roles and picture.
//! Asking for what is already there changes nothing, so edits can be repeated safely.

use super::ensure_active;
use crate::Timestamp;
use crate::role_catalog::{ProfileValues, RoleDefinition};
use crate::user::{Picture, User, UserError, UserEvent};
use crate::values::{Email, PendingToken, PersonName, PhoneNumber, Profile, Role, Username};

/// Replaces names and profile fields.
pub(super) fn update(
    user: &User,
    first_name: Option<PersonName>,
    last_name: Option<PersonName>,
    profile: Profile,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if first_name == user.first_name && last_name == user.last_name && profile == user.profile {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::ProfileUpdated {
        first_name,
        last_name,
        profile,
        at,
    }])
}

/// Changes the email address; its verification starts over with `verification`.
pub(super) fn change_email(
    user: &User,
    email: Email,
    verification: PendingToken,
) -> Result<Vec<UserEvent>, UserError> {
    if email == user.email {
        return Ok(vec![]);
    }
    let at = verification.issued_at;
    Ok(vec![
        UserEvent::EmailChanged {
            old_email: user.email.clone().into(),
            new_email: email.into(),
            at,
        },
        UserEvent::EmailVerificationRequested {
            token: verification,
        },
    ])
}

/// Changes or removes the phone number.
pub(super) fn change_phone(
    user: &User,
    phone: Option<PhoneNumber>,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if phone == user.phone {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::PhoneChanged {
        old_phone: user.phone.clone(),
        new_phone: phone,
        at,
    }])
}

/// Changes or removes the username.
pub(super) fn change_username(
    user: &User,
    username: Option<Username>,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if username == user.username {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::UsernameChanged {
        old_username: user.username.clone(),
        new_username: username,
        at,
    }])
}

/// Grants a global role.
pub(super) fn grant_role(
    user: &User,
    role: Role,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if user.roles.contains(&role) {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::RoleGranted { role, at }])
}

/// Revokes a global role.
pub(super) fn revoke_role(
    user: &User,
    role: Role,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if !user.roles.contains(&role) {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::RoleRevoked { role, at }])
}

/// Sets the profile of a role the user holds, as the role's definition takes it.
pub(super) fn set_role_profile(
    user: &User,
    role: Role,
    definition: &RoleDefinition,
    values: &ProfileValues,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if !user.roles.contains(&role) {
        return Err(UserError::RoleNotHeld);
    }
    let profile = definition
        .profile(values)
        .map_err(UserError::InvalidRoleProfile)?;
    // No profile and an empty one are the same.
    if user.role_profiles.get(&role).cloned().unwrap_or_default() == profile {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::RoleProfileSet { role, profile, at }])
}

/// Sets the profile picture.
pub(super) fn set_picture(
    user: &User,
    picture: Picture,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    ensure_active(user)?;
    if user.picture.as_ref() == Some(&picture) {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::ProfilePictureSet { picture, at }])
}

/// Removes the profile picture.
pub(super) fn remove_picture(user: &User, at: Timestamp) -> Result<Vec<UserEvent>, UserError> {
    if user.picture.is_none() {
        return Err(UserError::NoPicture);
    }
    Ok(vec![UserEvent::ProfilePictureRemoved { at }])
}
