//! What a user is: the state folded from their stream, and the values it is made of.

use crate::role_catalog::ProfileValues;
use crate::values::{
    DeviceKind, Email, PasswordHash, PendingToken, PersonName, PhoneNumber, Profile, Reason, Role,
    TokenHash, Username,
};
use crate::{Duration, OrganizationId, SessionId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a user is in their life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum UserStatus {
    /// May log in.
    Active,
    /// Turned off by an administrator; may be reactivated.
    Deactivated,
    /// Gone for good; the stream keeps the history.
    Deleted,
}

/// Who locked an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// The lockout policy, after too many failed logins. Always expires.
    Policy,
    /// An administrator, with or without an expiry.
    Admin,
}

/// An account lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLock {
    /// Who locked.
    pub kind: LockKind,
    /// Why, when an administrator said.
    pub reason: Option<Reason>,
    /// When the lock ends by itself; `None` locks until unlocked.
    pub until: Option<Timestamp>,
    /// When it was locked.
    pub locked_at: Timestamp,
}

impl AccountLock {
    /// Whether the lock still holds at `at`.
    pub fn is_active(&self, at: Timestamp) -> bool {
        self.until.is_none_or(|until| at < until)
    }
}

/// Why a password (re)set link was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetPurpose {
    /// The user forgot their password, or an administrator sent a reset link.
    Reset,
    /// An administrator created the user without a password: the link sets the first one.
    Invitation,
    /// The person signed in with a password that must be changed; the token (given in the
    /// sign-in's answer, never mailed) sets the new one.
    ChangeRequired,
}

/// A phone verification code waiting to be entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCode {
    /// Hash of the code that was sent.
    pub code_hash: TokenHash,
    /// When it was sent.
    pub issued_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// How many more wrong codes are accepted.
    pub attempts_left: u32,
}

/// A profile picture, stored in object storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    /// Its object key.
    pub key: String,
    /// Its media type (detected from its bytes).
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// The square sizes (in pixels, the longer side) it is also stored at, e.g. `[256, 64]`:
    /// see [`Picture::rendition_key`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<u32>,
}

impl Picture {
    /// The object key of the rendition `size` pixels wide: `picture-256.png` beside
    /// `picture.png`.
    pub fn rendition_key(&self, size: u32) -> String {
        match self.key.rsplit_once('.') {
            Some((stem, extension)) => format!("{stem}-{size}.{extension}"),
            None => format!("{}-{size}", self.key),
        }
    }

    /// Every object key the picture is stored under.
    pub fn keys(&self) -> Vec<String> {
        std::iter::once(self.key.clone())
            .chain(self.renditions.iter().map(|size| self.rendition_key(*size)))
            .collect()
    }
}

/// A user's TOTP second factor (RFC 6238).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totp {
    /// The shared secret, sealed by the caller (the domain never sees it in clear).
    pub sealed_secret: String,
    /// Whether a first code confirmed the enrollment; until then login does not ask for codes.
    pub enabled: bool,
    /// The last time step a code was accepted for: a code is good once.
    pub last_used_step: Option<u64>,
    /// Hashes of the recovery codes not used yet.
    pub recovery_codes: Vec<TokenHash>,
}

/// The lockout policy, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failed logins that lock the account.
    pub max_failed_attempts: u32,
    /// How long the first lock lasts; each further lock before a successful login doubles it.
    pub lock_duration: Duration,
    /// The longest a policy lock lasts.
    pub max_lock_duration: Duration,
}

impl LockoutPolicy {
    /// The duration of the next lock, given how many policy locks came before it.
    pub fn lock_duration_after(&self, previous_locks: u32) -> Duration {
        let mut duration = self.lock_duration;
        for _ in 0..previous_locks {
            duration = duration.checked_mul(2).unwrap_or(self.max_lock_duration);
            if duration >= self.max_lock_duration {
                return self.max_lock_duration;
            }
        }
        duration.min(self.max_lock_duration)
    }
}

/// A user as folded from their stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Email address (unique).
    pub email: Email,
    /// When the current address was verified.
    pub email_verified_at: Option<Timestamp>,
    /// Phone number (unique), if any.
    pub phone: Option<PhoneNumber>,
    /// When the current number was verified.
    pub phone_verified_at: Option<Timestamp>,
    /// Username (unique), if any.
    pub username: Option<Username>,
    /// First name.
    pub first_name: Option<PersonName>,
    /// Last name.
    pub last_name: Option<PersonName>,
    /// Global roles.
    pub roles: BTreeSet<Role>,
    /// The profiles of the roles held that declare fields.
    pub role_profiles: BTreeMap<Role, ProfileValues>,
    /// The password hash; `None` until an invited user sets one.
    pub password_hash: Option<PasswordHash>,
    /// Lifecycle status.
    pub status: UserStatus,
    /// The current or last lock; see [`AccountLock::is_active`].
    pub lock: Option<AccountLock>,
    /// Consecutive failed logins.
    pub failed_logins: u32,
    /// Policy locks since the last successful login (each doubles the next lock).
    pub policy_locks: u32,
    /// A pending email verification.
    pub email_verification: Option<PendingToken>,
    /// A pending phone verification.
    pub phone_verification: Option<PendingCode>,
    /// A pending password reset or invitation.
    pub password_reset: Option<(ResetPurpose, PendingToken)>,
    /// The password was set by someone else to be changed at the first sign-in: until it is,
    /// signing in gives a change token, not a session.
    pub password_change_required: bool,
    /// Self-managed profile fields.
    pub profile: Profile,
    /// When the user was registered or created.
    pub created_at: Timestamp,
    /// When anything last changed.
    pub updated_at: Timestamp,
    /// When the user last logged in.
    pub last_login_at: Option<Timestamp>,
    /// Every session a login started, oldest first, with its start: where to look for the
    /// user's open sessions (each session's own stream says whether it is still open).
    pub sessions: Vec<(SessionId, Timestamp)>,
    /// Organizations that may count the user as a member: linked before a membership is
    /// added and unlinked after it is removed, so this is always a superset of the user's
    /// memberships. The organization's stream says whether the membership is real.
    pub organizations: BTreeSet<OrganizationId>,
    /// The TOTP second factor, enrolled or enabled.
    pub totp: Option<Totp>,
    /// The profile picture.
    pub picture: Option<Picture>,
    /// When the user was deleted, and what their status was then (what a restore gives back).
    pub deletion: Option<Deletion>,
    /// The kinds of device the user signed in from.
    pub known_devices: BTreeSet<DeviceKind>,
}

/// A deletion, while it can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletion {
    /// When.
    pub at: Timestamp,
    /// The status before (active or deactivated).
    pub status_before: UserStatus,
}

impl User {
    /// Whether login asks for a second factor.
    pub fn has_mfa(&self) -> bool {
        self.totp.as_ref().is_some_and(|totp| totp.enabled)
    }

    /// Whether the account is locked at `at`.
    pub fn is_locked(&self, at: Timestamp) -> bool {
        self.lock.as_ref().is_some_and(|lock| lock.is_active(at))
    }

    /// Whether the user has a password to log in with.
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// The lock in force at `at`, if any.
    pub fn active_lock(&self, at: Timestamp) -> Option<&AccountLock> {
        self.lock.as_ref().filter(|lock| lock.is_active(at))
    }
}

/// The state of a user stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UserState {
    /// No such user.
    #[default]
    Absent,
    /// The user (possibly deleted).
    Present(Box<User>),
    /// The user was forgotten: nothing personal is left.
    Forgotten(ForgottenUser),
}

/// What is left of a forgotten user: nothing personal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgottenUser {
    /// The user's id.
    pub id: UserId,
    /// When the user was registered or created.
    pub created_at: Timestamp,
    /// When they were forgotten (`None` only while an erased history is being folded).
    pub forgotten_at: Option<Timestamp>,
}

impl UserState {
    /// The user, if the stream has one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::Absent | Self::Forgotten(_) => None,
            Self::Present(user) => Some(user),
        }
    }
}
