//! Folding a user's events into their state.

use super::{
    AccountLock, Deletion, ForgottenUser, LockKind, PHONE_CODE_ATTEMPTS, PendingCode, Totp, User,
    UserEvent, UserState, UserStatus,
};
use crate::values::{Personal, Profile};
use std::collections::{BTreeMap, BTreeSet};

/// [`Aggregate::evolve`](crate::Aggregate::evolve) for users.
pub(super) fn evolve(state: UserState, event: &UserEvent) -> UserState {
    match (state, event) {
        (UserState::Present(user), UserEvent::UserForgotten { at }) => {
            UserState::Forgotten(ForgottenUser {
                id: user.id,
                created_at: user.created_at,
                forgotten_at: Some(*at),
            })
        }
        (UserState::Forgotten(mut forgotten), UserEvent::UserForgotten { at }) => {
            forgotten.forgotten_at = Some(*at);
            UserState::Forgotten(forgotten)
        }
        // Nothing else changes what is left of a forgotten user.
        (UserState::Forgotten(forgotten), _) => UserState::Forgotten(forgotten),
        // A history whose personal data is erased belongs to someone forgotten (only
        // forgetting destroys a key): fold it into what is left of them.
        (
            UserState::Absent,
            UserEvent::UserRegistered {
                user_id,
                email: Personal::Erased,
                at,
                ..
            }
            | UserEvent::UserCreated {
                user_id,
                email: Personal::Erased,
                at,
                ..
            },
        ) => UserState::Forgotten(ForgottenUser {
            id: *user_id,
            created_at: *at,
            forgotten_at: None,
        }),
        (
            UserState::Absent,
            UserEvent::UserRegistered {
                user_id,
                email: Personal::Known(email),
                username,
                phone,
                first_name,
                last_name,
                roles,
                preferred_language,
                at,
                ..
            }
            | UserEvent::UserCreated {
                user_id,
                email: Personal::Known(email),
                username,
                phone,
                first_name,
                last_name,
                roles,
                preferred_language,
                at,
                ..
            },
        ) => {
            let password_hash = match event {
                UserEvent::UserRegistered { password_hash, .. } => Some(password_hash.clone()),
                UserEvent::UserCreated { password_hash, .. } => password_hash.clone(),
                _ => None,
            };
            UserState::Present(Box::new(User {
                id: *user_id,
                email: email.clone(),
                email_verified_at: None,
                phone: phone.clone(),
                phone_verified_at: None,
                username: username.clone(),
                first_name: first_name.clone(),
                last_name: last_name.clone(),
                roles: roles.clone(),
                role_profiles: BTreeMap::new(),
                password_hash,
                status: UserStatus::Active,
                lock: None,
                failed_logins: 0,
                policy_locks: 0,
                email_verification: None,
                phone_verification: None,
                password_reset: None,
                password_change_required: false,
                profile: Profile {
                    preferred_language: preferred_language.clone(),
                    ..Profile::default()
                },
                created_at: *at,
                updated_at: *at,
                last_login_at: None,
                sessions: Vec::new(),
                organizations: BTreeSet::new(),
                totp: None,
                picture: None,
                deletion: None,
                known_devices: BTreeSet::new(),
            }))
        }
        (UserState::Present(mut user), event) => {
            apply(&mut user, event);
            UserState::Present(user)
        }
        // An event for a stream that has not started cannot be folded into anything.
        (UserState::Absent, _) => UserState::Absent,
    }
}

/// Applies an event to a user who exists (and is not forgotten).
fn apply(user: &mut User, event: &UserEvent) {
    use UserEvent as E;
    match event {
        // Creation events only start a stream; on an existing user they change nothing.
        E::UserRegistered { .. } | E::UserCreated { .. } => {}
        E::EmailVerificationRequested { token } => {
            user.email_verification = Some(token.clone());
            user.updated_at = token.issued_at;
        }
        E::EmailVerified { at, .. } => {
            user.email_verified_at = Some(*at);
            user.email_verification = None;
            user.updated_at = *at;
        }
        E::PhoneVerificationRequested {
            code_hash,
            issued_at,
            expires_at,
        } => {
            user.phone_verification = Some(PendingCode {
                code_hash: *code_hash,
                issued_at: *issued_at,
                expires_at: *expires_at,
                attempts_left: PHONE_CODE_ATTEMPTS,
            });
            user.updated_at = *issued_at;
        }
        E::PhoneVerificationFailed { attempts_left, at } => {
            if let Some(pending) = &mut user.phone_verification {
                pending.attempts_left = *attempts_left;
            }
            user.updated_at = *at;
        }
        E::PhoneVerified { at, .. } => {
            user.phone_verified_at = Some(*at);
            user.phone_verification = None;
            user.updated_at = *at;
        }
        E::ProfileUpdated {
            first_name,
            last_name,
            profile,
            at,
        } => {
            user.first_name = first_name.clone();
            user.last_name = last_name.clone();
            user.profile = profile.clone();
            user.updated_at = *at;
        }
        E::EmailChanged { new_email, at, .. } => {
            if let Personal::Known(email) = new_email {
                user.email = email.clone();
            }
            user.email_verified_at = None;
            user.email_verification = None;
            user.updated_at = *at;
        }
        E::PhoneChanged { new_phone, at, .. } => {
            user.phone = new_phone.clone();
            user.phone_verified_at = None;
            user.phone_verification = None;
            user.updated_at = *at;
        }
        E::UsernameChanged {
            new_username, at, ..
        } => {
            user.username = new_username.clone();
            user.updated_at = *at;
        }
        E::RoleGranted { role, at } => {
            user.roles.insert(role.clone());
            user.updated_at = *at;
        }
        E::RoleRevoked { role, at } => {
            user.roles.remove(role);
            user.role_profiles.remove(role);
            user.updated_at = *at;
        }
        E::RoleProfileSet { role, profile, at } => {
            if profile.is_empty() {
                user.role_profiles.remove(role);
            } else {
                user.role_profiles.insert(role.clone(), profile.clone());
            }
            user.updated_at = *at;
        }
        E::PasswordChanged { password_hash, at } | E::PasswordSet { password_hash, at } => {
            user.password_hash = Some(password_hash.clone());
            user.password_reset = None;
            user.password_change_required = false;
            user.updated_at = *at;
        }
        E::PasswordChangeRequired { at } => {
            user.password_change_required = true;
            user.updated_at = *at;
        }
        E::PasswordResetRequested { purpose, token } => {
            user.password_reset = Some((*purpose, token.clone()));
            user.updated_at = token.issued_at;
        }
        E::PasswordResetCompleted { password_hash, at } => {
            user.password_hash = Some(password_hash.clone());
            user.password_reset = None;
            user.password_change_required = false;
            user.failed_logins = 0;
            user.policy_locks = 0;
            if user
                .lock
                .as_ref()
                .is_some_and(|lock| lock.kind == LockKind::Policy)
            {
                user.lock = None;
            }
            user.updated_at = *at;
        }
        E::LoginSucceeded { session_id, at } => {
            if let Some(session_id) = session_id {
                user.sessions.push((*session_id, *at));
            }
            user.failed_logins = 0;
            user.policy_locks = 0;
            user.lock = user.lock.take().filter(|lock| lock.is_active(*at));
            user.last_login_at = Some(*at);
        }
        E::SignedInFromNewDevice { device, .. } => {
            user.known_devices.insert(device.clone());
        }
        E::LoginFailed {
            failed_attempts,
            at,
        } => {
            user.failed_logins = *failed_attempts;
            user.lock = user.lock.take().filter(|lock| lock.is_active(*at));
        }
        E::AccountLocked {
            kind,
            reason,
            until,
            at,
        } => {
            if *kind == LockKind::Policy {
                user.policy_locks += 1;
            }
            user.lock = Some(AccountLock {
                kind: *kind,
                reason: reason.clone(),
                until: *until,
                locked_at: *at,
            });
            user.updated_at = *at;
        }
        E::AccountUnlocked { at } => {
            user.lock = None;
            user.failed_logins = 0;
            user.policy_locks = 0;
            user.updated_at = *at;
        }
        E::UserDeactivated { at, .. } => {
            user.status = UserStatus::Deactivated;
            user.updated_at = *at;
        }
        E::UserReactivated { at } => {
            user.status = UserStatus::Active;
            user.updated_at = *at;
        }
        // Folded into a forgotten user by `evolve`.
        E::UserForgotten { .. } => {}
        E::UserRestored { at } => {
            if let Some(deletion) = user.deletion.take() {
                user.status = deletion.status_before;
            }
            // Deleting ended the memberships; restoring does not bring them back.
            user.organizations.clear();
            user.updated_at = *at;
        }
        E::UserDeleted { at } => {
            user.deletion = Some(Deletion {
                at: *at,
                status_before: user.status,
            });
            user.status = UserStatus::Deleted;
            user.email_verification = None;
            user.phone_verification = None;
            user.password_reset = None;
            user.updated_at = *at;
        }
        E::ExpiredTokensDiscarded {
            email_verification,
            phone_verification,
            password_reset,
            ..
        } => {
            // Not a change the user made: `updated_at` stays.
            if *email_verification {
                user.email_verification = None;
            }
            if *phone_verification {
                user.phone_verification = None;
            }
            if *password_reset {
                user.password_reset = None;
            }
        }
        E::ProfilePictureSet { picture, at } => {
            user.picture = Some(picture.clone());
            user.updated_at = *at;
        }
        E::ProfilePictureRemoved { at } => {
            user.picture = None;
            user.updated_at = *at;
        }
        E::TotpEnrollmentStarted { sealed_secret, at } => {
            user.totp = Some(Totp {
                sealed_secret: sealed_secret.clone(),
                enabled: false,
                last_used_step: None,
                recovery_codes: Vec::new(),
            });
            user.updated_at = *at;
        }
        E::TotpEnabled {
            step,
            recovery_codes,
            at,
        } => {
            if let Some(totp) = &mut user.totp {
                totp.enabled = true;
                totp.last_used_step = Some(*step);
                totp.recovery_codes = recovery_codes.clone();
            }
            user.updated_at = *at;
        }
        E::TotpDisabled { at } => {
            user.totp = None;
            user.updated_at = *at;
        }
        E::TotpCodeUsed { step, .. } => {
            if let Some(totp) = &mut user.totp {
                totp.last_used_step = Some(*step);
            }
        }
        E::RecoveryCodeUsed { code_hash, .. } => {
            if let Some(totp) = &mut user.totp {
                totp.recovery_codes.retain(|code| code != code_hash);
            }
        }
        // An index, not a change the user would see: `updated_at` stays.
        E::OrganizationLinked {
            organization_id, ..
        }
        | E::InvitedToOrganization {
            organization_id, ..
        } => {
            user.organizations.insert(*organization_id);
        }
        E::OrganizationUnlinked {
            organization_id, ..
        } => {
            user.organizations.remove(organization_id);
        }
    }
}
