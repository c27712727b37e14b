//! The User aggregate: registration, verification, credentials, lockout and lifecycle.

use crate::values::{
    Email, PasswordHash, PendingToken, PersonName, Personal, PhoneNumber, Profile, Reason, Role,
    TokenHash, TokenRejection, Username, erasable,
};
use crate::{
    Aggregate, ClaimChange, ClaimKind, DomainEvent, Duration, OrganizationId, SessionId, Timestamp,
    UserId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How long a user must wait before another email verification message or phone code is sent.
pub const RESEND_COOLDOWN: Duration = Duration::seconds(60);

/// How many wrong phone codes are accepted before a new code must be requested.
pub const PHONE_CODE_ATTEMPTS: u32 = 5;

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
}

impl User {
    /// Whether login asks for a second factor.
    pub fn has_mfa(&self) -> bool {
        self.totp.as_ref().is_some_and(|totp| totp.enabled)
    }
}

impl User {
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

/// The identity fields a new user starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// A fresh id.
    pub user_id: UserId,
    /// Email address.
    pub email: Email,
    /// Optional username.
    pub username: Option<Username>,
    /// Optional phone number.
    pub phone: Option<PhoneNumber>,
    /// First name.
    pub first_name: Option<PersonName>,
    /// Last name.
    pub last_name: Option<PersonName>,
    /// Global roles to start with.
    pub roles: BTreeSet<Role>,
}

/// What can be asked of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    /// Self-service registration, with the email verification token to send.
    Register {
        /// Identity fields.
        user: NewUser,
        /// The chosen password, hashed.
        password_hash: PasswordHash,
        /// The verification token that goes out by email.
        email_verification: PendingToken,
        /// When.
        at: Timestamp,
    },
    /// Creation by an administrator, with a password or an invitation to set one.
    Create {
        /// Identity fields.
        user: NewUser,
        /// A password set by the administrator, hashed; `None` sends an invitation.
        password_hash: Option<PasswordHash>,
        /// The set-password link, when there is no password.
        invitation: Option<PendingToken>,
        /// When.
        at: Timestamp,
    },
    /// Sends (again) a link to verify the current email address.
    RequestEmailVerification {
        /// The new token.
        token: PendingToken,
    },
    /// The user followed an email verification link.
    ConfirmEmailVerification {
        /// Hash of the presented token.
        token_hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Sends a code to verify the current phone number.
    RequestPhoneVerification {
        /// Hash of the code sent.
        code_hash: TokenHash,
        /// When the code stops working.
        expires_at: Timestamp,
        /// When.
        at: Timestamp,
    },
    /// The user entered a phone verification code.
    ConfirmPhoneVerification {
        /// Hash of the entered code.
        code_hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Replaces names and profile fields.
    UpdateProfile {
        /// First name.
        first_name: Option<PersonName>,
        /// Last name.
        last_name: Option<PersonName>,
        /// Profile fields.
        profile: Profile,
        /// When.
        at: Timestamp,
    },
    /// Changes the email address; verification starts over.
    ChangeEmail {
        /// The new address.
        email: Email,
        /// The verification token for the new address.
        verification: PendingToken,
    },
    /// Changes or removes the phone number; verification starts over.
    ChangePhone {
        /// The new number.
        phone: Option<PhoneNumber>,
        /// When.
        at: Timestamp,
    },
    /// Changes or removes the username.
    ChangeUsername {
        /// The new username.
        username: Option<Username>,
        /// When.
        at: Timestamp,
    },
    /// Grants a global role (granting a held role changes nothing).
    GrantRole {
        /// The role.
        role: Role,
        /// When.
        at: Timestamp,
    },
    /// Revokes a global role (revoking a role not held changes nothing).
    RevokeRole {
        /// The role.
        role: Role,
        /// When.
        at: Timestamp,
    },
    /// The user changed their password (the caller checked the current one).
    ChangePassword {
        /// The new password, hashed.
        password_hash: PasswordHash,
        /// When.
        at: Timestamp,
    },
    /// Issues a password reset link.
    RequestPasswordReset {
        /// The new token.
        token: PendingToken,
    },
    /// The user presented a reset (or invitation) token with a new password.
    CompletePasswordReset {
        /// Hash of the presented token.
        token_hash: TokenHash,
        /// The new password, hashed.
        password_hash: PasswordHash,
        /// When.
        at: Timestamp,
    },
    /// A correct password was presented (the caller verified it).
    RecordSuccessfulLogin {
        /// The session the login starts.
        session_id: Option<SessionId>,
        /// When.
        at: Timestamp,
    },
    /// A wrong password was presented.
    RecordFailedLogin {
        /// The lockout policy in force.
        policy: LockoutPolicy,
        /// When.
        at: Timestamp,
    },
    /// An administrator locks the account.
    Lock {
        /// Why.
        reason: Option<Reason>,
        /// Until when; `None` until unlocked.
        until: Option<Timestamp>,
        /// When.
        at: Timestamp,
    },
    /// An administrator lifts any lock.
    Unlock {
        /// When.
        at: Timestamp,
    },
    /// An administrator turns the account off.
    Deactivate {
        /// Why.
        reason: Option<Reason>,
        /// When.
        at: Timestamp,
    },
    /// An administrator turns the account back on.
    Reactivate {
        /// When.
        at: Timestamp,
    },
    /// Deletes the user; their unique values are released.
    Delete {
        /// When.
        at: Timestamp,
    },
    /// Forgets the user (right to erasure): their personal data becomes unreadable for good,
    /// their unique values are released. Also for a deleted user.
    Forget {
        /// When.
        at: Timestamp,
    },
    /// Sets the profile picture (stored already).
    SetProfilePicture {
        /// The picture.
        picture: Picture,
        /// When.
        at: Timestamp,
    },
    /// Removes the profile picture.
    RemoveProfilePicture {
        /// When.
        at: Timestamp,
    },
    /// Starts (or restarts) TOTP enrollment with a new secret.
    StartTotpEnrollment {
        /// The secret, sealed.
        sealed_secret: String,
        /// When.
        at: Timestamp,
    },
    /// A first code proved the enrollment (the caller checked it against the secret).
    ConfirmTotp {
        /// The time step the code was for.
        step: u64,
        /// Hashes of fresh recovery codes.
        recovery_codes: Vec<TokenHash>,
        /// When.
        at: Timestamp,
    },
    /// Turns TOTP off (the caller checked the password).
    DisableTotp {
        /// When.
        at: Timestamp,
    },
    /// A TOTP code for `step` was presented at login (the caller checked it).
    UseTotpCode {
        /// The time step.
        step: u64,
        /// When.
        at: Timestamp,
    },
    /// A recovery code was presented at login.
    UseRecoveryCode {
        /// Its hash.
        code_hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Notes that an organization is about to add the user as a member.
    LinkOrganization {
        /// The organization.
        organization_id: OrganizationId,
        /// When.
        at: Timestamp,
    },
    /// Notes that an organization invited the user (which links it, as a membership would), so
    /// that the person hears of it and finds it among their invitations.
    NoteInvitation {
        /// The organization.
        organization_id: OrganizationId,
        /// Its name, for the message to the person.
        organization_name: crate::values::OrganizationName,
        /// When the invitation lapses.
        expires_at: Timestamp,
        /// When.
        at: Timestamp,
    },
    /// Notes that an organization has removed the user.
    UnlinkOrganization {
        /// The organization.
        organization_id: OrganizationId,
        /// When.
        at: Timestamp,
    },
    /// Drops pending verification and reset tokens that have expired (maintenance).
    DiscardExpiredTokens {
        /// Now: tokens that expired before this are dropped.
        at: Timestamp,
    },
    /// Several commands decided in order, each on the state the previous ones left: all of
    /// them or none (one edit of several fields, one stream version).
    Batch(Vec<UserCommand>),
}

/// What happened to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum UserEvent {
    /// The user registered themself.
    UserRegistered {
        user_id: UserId,
        email: Personal<Email>,
        #[serde(default, deserialize_with = "erasable::optional")]
        username: Option<Username>,
        #[serde(default, deserialize_with = "erasable::optional")]
        phone: Option<PhoneNumber>,
        #[serde(default, deserialize_with = "erasable::optional")]
        first_name: Option<PersonName>,
        #[serde(default, deserialize_with = "erasable::optional")]
        last_name: Option<PersonName>,
        roles: BTreeSet<Role>,
        password_hash: PasswordHash,
        at: Timestamp,
    },
    /// An administrator created the user.
    UserCreated {
        user_id: UserId,
        email: Personal<Email>,
        #[serde(default, deserialize_with = "erasable::optional")]
        username: Option<Username>,
        #[serde(default, deserialize_with = "erasable::optional")]
        phone: Option<PhoneNumber>,
        #[serde(default, deserialize_with = "erasable::optional")]
        first_name: Option<PersonName>,
        #[serde(default, deserialize_with = "erasable::optional")]
        last_name: Option<PersonName>,
        roles: BTreeSet<Role>,
        password_hash: Option<PasswordHash>,
        at: Timestamp,
    },
    /// A verification link was sent to the email address.
    EmailVerificationRequested { token: PendingToken },
    /// The email address was verified.
    EmailVerified {
        email: Personal<Email>,
        at: Timestamp,
    },
    /// A verification code was sent to the phone.
    PhoneVerificationRequested {
        code_hash: TokenHash,
        issued_at: Timestamp,
        expires_at: Timestamp,
    },
    /// A wrong phone code was entered.
    PhoneVerificationFailed { attempts_left: u32, at: Timestamp },
    /// The phone number was verified.
    PhoneVerified {
        phone: Personal<PhoneNumber>,
        at: Timestamp,
    },
    /// Names or profile fields changed.
    ProfileUpdated {
        #[serde(default, deserialize_with = "erasable::optional")]
        first_name: Option<PersonName>,
        #[serde(default, deserialize_with = "erasable::optional")]
        last_name: Option<PersonName>,
        #[serde(deserialize_with = "erasable::or_default")]
        profile: Profile,
        at: Timestamp,
    },
    /// The email address changed.
    EmailChanged {
        old_email: Personal<Email>,
        new_email: Personal<Email>,
        at: Timestamp,
    },
    /// The phone number changed or was removed.
    PhoneChanged {
        #[serde(default, deserialize_with = "erasable::optional")]
        old_phone: Option<PhoneNumber>,
        #[serde(default, deserialize_with = "erasable::optional")]
        new_phone: Option<PhoneNumber>,
        at: Timestamp,
    },
    /// The username changed or was removed.
    UsernameChanged {
        #[serde(default, deserialize_with = "erasable::optional")]
        old_username: Option<Username>,
        #[serde(default, deserialize_with = "erasable::optional")]
        new_username: Option<Username>,
        at: Timestamp,
    },
    /// A global role was granted.
    RoleGranted { role: Role, at: Timestamp },
    /// A global role was revoked.
    RoleRevoked { role: Role, at: Timestamp },
    /// The user changed their password.
    PasswordChanged {
        password_hash: PasswordHash,
        at: Timestamp,
    },
    /// A password reset or invitation link was issued.
    PasswordResetRequested {
        purpose: ResetPurpose,
        token: PendingToken,
    },
    /// A reset or invitation link was used to set a new password.
    PasswordResetCompleted {
        password_hash: PasswordHash,
        at: Timestamp,
    },
    /// The user logged in.
    LoginSucceeded {
        session_id: Option<SessionId>,
        at: Timestamp,
    },
    /// A login failed; `failed_attempts` is the consecutive count including this one.
    LoginFailed { failed_attempts: u32, at: Timestamp },
    /// The account was locked.
    AccountLocked {
        kind: LockKind,
        #[serde(default, deserialize_with = "erasable::optional")]
        reason: Option<Reason>,
        until: Option<Timestamp>,
        at: Timestamp,
    },
    /// An administrator unlocked the account.
    AccountUnlocked { at: Timestamp },
    /// The account was deactivated.
    UserDeactivated {
        #[serde(default, deserialize_with = "erasable::optional")]
        reason: Option<Reason>,
        at: Timestamp,
    },
    /// The account was reactivated.
    UserReactivated { at: Timestamp },
    /// The user was deleted.
    UserDeleted { at: Timestamp },
    /// The user was forgotten: their data key is destroyed with this event, so their personal
    /// data in the log reads back as erased; their unique values are released.
    UserForgotten { at: Timestamp },
    /// The profile picture was set.
    ProfilePictureSet { picture: Picture, at: Timestamp },
    /// The profile picture was removed.
    ProfilePictureRemoved { at: Timestamp },
    /// TOTP enrollment started with a new (sealed) secret.
    TotpEnrollmentStarted {
        sealed_secret: String,
        at: Timestamp,
    },
    /// TOTP is on; login asks for codes.
    TotpEnabled {
        step: u64,
        recovery_codes: Vec<TokenHash>,
        at: Timestamp,
    },
    /// TOTP is off.
    TotpDisabled { at: Timestamp },
    /// A TOTP code was accepted.
    TotpCodeUsed { step: u64, at: Timestamp },
    /// A recovery code was used up.
    RecoveryCodeUsed { code_hash: TokenHash, at: Timestamp },
    /// An organization is adding the user as a member.
    OrganizationLinked {
        organization_id: OrganizationId,
        at: Timestamp,
    },
    /// An organization invited the user to join.
    InvitedToOrganization {
        organization_id: OrganizationId,
        organization_name: crate::values::OrganizationName,
        expires_at: Timestamp,
        at: Timestamp,
    },
    /// An organization removed the user.
    OrganizationUnlinked {
        organization_id: OrganizationId,
        at: Timestamp,
    },
    /// Expired pending tokens were dropped: which ones.
    ExpiredTokensDiscarded {
        email_verification: bool,
        phone_verification: bool,
        password_reset: bool,
        at: Timestamp,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> &'static str {
        self.into()
    }

    fn forgets_data_subject(&self) -> bool {
        matches!(self, Self::UserForgotten { .. })
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::UserRegistered { .. } | Self::UserCreated { .. } => {
                &["/email", "/username", "/phone", "/first_name", "/last_name"]
            }
            Self::EmailVerified { .. } => &["/email"],
            Self::PhoneVerified { .. } => &["/phone"],
            Self::ProfileUpdated { .. } => &["/first_name", "/last_name", "/profile"],
            Self::EmailChanged { .. } => &["/old_email", "/new_email"],
            Self::PhoneChanged { .. } => &["/old_phone", "/new_phone"],
            Self::UsernameChanged { .. } => &["/old_username", "/new_username"],
            Self::AccountLocked { .. } | Self::UserDeactivated { .. } => &["/reason"],
            Self::EmailVerificationRequested { .. }
            | Self::PhoneVerificationRequested { .. }
            | Self::PhoneVerificationFailed { .. }
            | Self::RoleGranted { .. }
            | Self::RoleRevoked { .. }
            | Self::PasswordChanged { .. }
            | Self::PasswordResetRequested { .. }
            | Self::PasswordResetCompleted { .. }
            | Self::LoginSucceeded { .. }
            | Self::LoginFailed { .. }
            | Self::AccountUnlocked { .. }
            | Self::UserReactivated { .. }
            | Self::UserDeleted { .. }
            | Self::UserForgotten { .. }
            | Self::OrganizationLinked { .. }
            | Self::InvitedToOrganization { .. }
            | Self::OrganizationUnlinked { .. }
            | Self::ProfilePictureSet { .. }
            | Self::ProfilePictureRemoved { .. }
            | Self::TotpEnrollmentStarted { .. }
            | Self::TotpEnabled { .. }
            | Self::TotpDisabled { .. }
            | Self::TotpCodeUsed { .. }
            | Self::RecoveryCodeUsed { .. }
            | Self::ExpiredTokensDiscarded { .. } => &[],
        }
    }
}

/// Why a user command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// Register or create on an existing stream.
    #[error("the user already exists")]
    AlreadyExists,
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// The user was deleted.
    #[error("the user has been deleted")]
    Deleted,
    /// The user was forgotten: nothing can be done with them any more.
    #[error("the user has been forgotten")]
    Forgotten,
    /// The account is deactivated.
    #[error("the account is deactivated")]
    Deactivated,
    /// Reactivating an account that is not deactivated.
    #[error("the account is not deactivated")]
    NotDeactivated,
    /// The account is locked.
    #[error("the account is locked")]
    Locked {
        /// When the lock ends by itself.
        until: Option<Timestamp>,
    },
    /// Unlocking an account that is not locked.
    #[error("the account is not locked")]
    NotLocked,
    /// A lock must end after it starts.
    #[error("a lock must end in the future")]
    LockEndsInPast,
    /// The user has no password yet (invited, link not used).
    #[error("the account has no password yet")]
    NoPassword,
    /// The email address is already verified.
    #[error("the email address is already verified")]
    EmailAlreadyVerified,
    /// The phone number is already verified.
    #[error("the phone number is already verified")]
    PhoneAlreadyVerified,
    /// Phone verification without a phone number.
    #[error("the account has no phone number")]
    NoPhoneNumber,
    /// Nothing was sent to verify.
    #[error("no verification is pending")]
    NothingToVerify,
    /// The presented token or code is not the one issued (or none was issued).
    #[error("the token is invalid")]
    InvalidToken,
    /// The token or code has expired.
    #[error("the token has expired")]
    TokenExpired,
    /// Too many wrong phone codes.
    #[error("too many wrong codes; request a new one")]
    TooManyAttempts,
    /// The user has no profile picture.
    #[error("there is no profile picture")]
    NoPicture,
    /// No TOTP enrollment to confirm, or TOTP is not on.
    #[error("two-factor authentication is not set up")]
    TotpNotEnrolled,
    /// TOTP is already on.
    #[error("two-factor authentication is already on")]
    TotpAlreadyEnabled,
    /// This code (its time step) was already used.
    #[error("this code was already used")]
    TotpCodeReused,
    /// Not one of the unused recovery codes.
    #[error("not a valid recovery code")]
    InvalidRecoveryCode,
    /// A new message was asked for too soon after the last one.
    #[error("asked too soon; try again in {retry_after_seconds} s")]
    TooSoon {
        /// Seconds until the next request is accepted.
        retry_after_seconds: i64,
    },
}

/// The type of [`UserEvent::UserForgotten`], after which a person's data is erased everywhere:
/// readers of the log that do not decode user events match on it.
pub const USER_FORGOTTEN: &str = "UserForgotten";

/// The User aggregate.
#[derive(Debug, Clone, Copy)]
pub struct UserAggregate;

impl Aggregate for UserAggregate {
    const STREAM_TYPE: &'static str = "user";
    type State = UserState;
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;

    fn decide(state: &UserState, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        match (state, command) {
            (state, UserCommand::Batch(commands)) => {
                let mut state = state.clone();
                let mut events = Vec::new();
                for command in commands {
                    let decided = Self::decide(&state, command)?;
                    state = decided.iter().fold(state, Self::evolve);
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
                    password_hash,
                    invitation,
                    at,
                },
            ) => {
                let mut events = vec![UserEvent::UserCreated {
                    user_id: user.user_id,
                    email: user.email.into(),
                    username: user.username,
                    phone: user.phone,
                    first_name: user.first_name,
                    last_name: user.last_name,
                    roles: user.roles,
                    password_hash,
                    at,
                }];
                if let Some(token) = invitation {
                    events.push(UserEvent::PasswordResetRequested {
                        purpose: ResetPurpose::Invitation,
                        token,
                    });
                }
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
            (UserState::Present(user), command) => decide_existing(user, command),
        }
    }

    fn evolve(state: UserState, event: &UserEvent) -> UserState {
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
                    password_hash,
                    status: UserStatus::Active,
                    lock: None,
                    failed_logins: 0,
                    policy_locks: 0,
                    email_verification: None,
                    phone_verification: None,
                    password_reset: None,
                    profile: Profile::default(),
                    created_at: *at,
                    updated_at: *at,
                    last_login_at: None,
                    sessions: Vec::new(),
                    organizations: BTreeSet::new(),
                    totp: None,
                    picture: None,
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

    fn claims(state: &UserState, events: &[UserEvent]) -> Vec<ClaimChange> {
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
}

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

fn decide_existing(user: &User, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
    use UserCommand as C;
    use UserEvent as E;
    if user.status == UserStatus::Deleted {
        return Err(UserError::Deleted);
    }
    match command {
        C::Register { .. } | C::Create { .. } => Err(UserError::AlreadyExists),
        C::RequestEmailVerification { token } => {
            ensure_active(user)?;
            if user.email_verified_at.is_some() {
                return Err(UserError::EmailAlreadyVerified);
            }
            ensure_cooldown_passed(
                user.email_verification.as_ref().map(|t| t.issued_at),
                token.issued_at,
            )?;
            Ok(vec![E::EmailVerificationRequested { token }])
        }
        C::ConfirmEmailVerification { token_hash, at } => {
            ensure_active(user)?;
            if user.email_verified_at.is_some() {
                return Err(UserError::EmailAlreadyVerified);
            }
            let pending = user
                .email_verification
                .as_ref()
                .ok_or(UserError::NothingToVerify)?;
            pending.check(&token_hash, at).map_err(token_error)?;
            Ok(vec![E::EmailVerified {
                email: user.email.clone().into(),
                at,
            }])
        }
        C::RequestPhoneVerification {
            code_hash,
            expires_at,
            at,
        } => {
            ensure_active(user)?;
            if user.phone.is_none() {
                return Err(UserError::NoPhoneNumber);
            }
            if user.phone_verified_at.is_some() {
                return Err(UserError::PhoneAlreadyVerified);
            }
            ensure_cooldown_passed(user.phone_verification.as_ref().map(|c| c.issued_at), at)?;
            Ok(vec![E::PhoneVerificationRequested {
                code_hash,
                issued_at: at,
                expires_at,
            }])
        }
        C::ConfirmPhoneVerification { code_hash, at } => {
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
                return Ok(vec![E::PhoneVerificationFailed {
                    attempts_left: pending.attempts_left - 1,
                    at,
                }]);
            }
            Ok(vec![E::PhoneVerified {
                phone: phone.into(),
                at,
            }])
        }
        C::UpdateProfile {
            first_name,
            last_name,
            profile,
            at,
        } => {
            if first_name == user.first_name
                && last_name == user.last_name
                && profile == user.profile
            {
                return Ok(vec![]);
            }
            Ok(vec![E::ProfileUpdated {
                first_name,
                last_name,
                profile,
                at,
            }])
        }
        C::ChangeEmail {
            email,
            verification,
        } => {
            if email == user.email {
                return Ok(vec![]);
            }
            let at = verification.issued_at;
            Ok(vec![
                E::EmailChanged {
                    old_email: user.email.clone().into(),
                    new_email: email.into(),
                    at,
                },
                E::EmailVerificationRequested {
                    token: verification,
                },
            ])
        }
        C::ChangePhone { phone, at } => {
            if phone == user.phone {
                return Ok(vec![]);
            }
            Ok(vec![E::PhoneChanged {
                old_phone: user.phone.clone(),
                new_phone: phone,
                at,
            }])
        }
        C::ChangeUsername { username, at } => {
            if username == user.username {
                return Ok(vec![]);
            }
            Ok(vec![E::UsernameChanged {
                old_username: user.username.clone(),
                new_username: username,
                at,
            }])
        }
        C::GrantRole { role, at } => {
            if user.roles.contains(&role) {
                return Ok(vec![]);
            }
            Ok(vec![E::RoleGranted { role, at }])
        }
        C::RevokeRole { role, at } => {
            if !user.roles.contains(&role) {
                return Ok(vec![]);
            }
            Ok(vec![E::RoleRevoked { role, at }])
        }
        C::ChangePassword { password_hash, at } => {
            ensure_active(user)?;
            Ok(vec![E::PasswordChanged { password_hash, at }])
        }
        C::RequestPasswordReset { token } => {
            ensure_active(user)?;
            let purpose = if user.has_password() {
                ResetPurpose::Reset
            } else {
                ResetPurpose::Invitation
            };
            Ok(vec![E::PasswordResetRequested { purpose, token }])
        }
        C::CompletePasswordReset {
            token_hash,
            password_hash,
            at,
        } => {
            ensure_active(user)?;
            let (_, pending) = user
                .password_reset
                .as_ref()
                .ok_or(UserError::InvalidToken)?;
            pending.check(&token_hash, at).map_err(token_error)?;
            let mut events = vec![E::PasswordResetCompleted { password_hash, at }];
            // The link reached the inbox, which proves the address as a verification link would.
            if user.email_verified_at.is_none() {
                events.push(E::EmailVerified {
                    email: user.email.clone().into(),
                    at,
                });
            }
            Ok(events)
        }
        C::RecordSuccessfulLogin { session_id, at } => {
            ensure_active(user)?;
            if let Some(lock) = user.active_lock(at) {
                return Err(UserError::Locked { until: lock.until });
            }
            if !user.has_password() {
                return Err(UserError::NoPassword);
            }
            Ok(vec![E::LoginSucceeded { session_id, at }])
        }
        C::RecordFailedLogin { policy, at } => {
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
            let mut events = vec![E::LoginFailed {
                failed_attempts,
                at,
            }];
            if failed_attempts >= policy.max_failed_attempts {
                events.push(E::AccountLocked {
                    kind: LockKind::Policy,
                    reason: None,
                    until: Some(at + policy.lock_duration_after(user.policy_locks)),
                    at,
                });
            }
            Ok(events)
        }
        C::Lock { reason, until, at } => {
            if until.is_some_and(|until| until <= at) {
                return Err(UserError::LockEndsInPast);
            }
            Ok(vec![E::AccountLocked {
                kind: LockKind::Admin,
                reason,
                until,
                at,
            }])
        }
        C::Unlock { at } => {
            if !user.is_locked(at) {
                return Err(UserError::NotLocked);
            }
            Ok(vec![E::AccountUnlocked { at }])
        }
        C::Deactivate { reason, at } => {
            ensure_active(user)?;
            Ok(vec![E::UserDeactivated { reason, at }])
        }
        C::Reactivate { at } => match user.status {
            UserStatus::Deactivated => Ok(vec![E::UserReactivated { at }]),
            _ => Err(UserError::NotDeactivated),
        },
        C::Delete { at } => Ok(vec![E::UserDeleted { at }]),
        // Taken care of in `decide`, also for deleted users.
        C::Forget { at } => Ok(vec![E::UserForgotten { at }]),
        C::SetProfilePicture { picture, at } => {
            ensure_active(user)?;
            if user.picture.as_ref() == Some(&picture) {
                return Ok(vec![]);
            }
            Ok(vec![E::ProfilePictureSet { picture, at }])
        }
        C::RemoveProfilePicture { at } => {
            if user.picture.is_none() {
                return Err(UserError::NoPicture);
            }
            Ok(vec![E::ProfilePictureRemoved { at }])
        }
        C::StartTotpEnrollment { sealed_secret, at } => {
            ensure_active(user)?;
            if user.has_mfa() {
                return Err(UserError::TotpAlreadyEnabled);
            }
            Ok(vec![E::TotpEnrollmentStarted { sealed_secret, at }])
        }
        C::ConfirmTotp {
            step,
            recovery_codes,
            at,
        } => {
            ensure_active(user)?;
            match &user.totp {
                None => Err(UserError::TotpNotEnrolled),
                Some(totp) if totp.enabled => Err(UserError::TotpAlreadyEnabled),
                Some(_) => Ok(vec![E::TotpEnabled {
                    step,
                    recovery_codes,
                    at,
                }]),
            }
        }
        C::DisableTotp { at } => {
            if !user.has_mfa() {
                return Err(UserError::TotpNotEnrolled);
            }
            Ok(vec![E::TotpDisabled { at }])
        }
        C::UseTotpCode { step, at } => {
            let totp = user
                .totp
                .as_ref()
                .filter(|totp| totp.enabled)
                .ok_or(UserError::TotpNotEnrolled)?;
            if totp.last_used_step.is_some_and(|last| step <= last) {
                return Err(UserError::TotpCodeReused);
            }
            Ok(vec![E::TotpCodeUsed { step, at }])
        }
        C::UseRecoveryCode { code_hash, at } => {
            let totp = user
                .totp
                .as_ref()
                .filter(|totp| totp.enabled)
                .ok_or(UserError::TotpNotEnrolled)?;
            if !totp.recovery_codes.contains(&code_hash) {
                return Err(UserError::InvalidRecoveryCode);
            }
            Ok(vec![E::RecoveryCodeUsed { code_hash, at }])
        }
        C::LinkOrganization {
            organization_id,
            at,
        } => {
            if user.organizations.contains(&organization_id) {
                return Ok(vec![]);
            }
            Ok(vec![E::OrganizationLinked {
                organization_id,
                at,
            }])
        }
        C::NoteInvitation {
            organization_id,
            organization_name,
            expires_at,
            at,
        } => Ok(vec![E::InvitedToOrganization {
            organization_id,
            organization_name,
            expires_at,
            at,
        }]),
        C::UnlinkOrganization {
            organization_id,
            at,
        } => {
            if !user.organizations.contains(&organization_id) {
                return Ok(vec![]);
            }
            Ok(vec![E::OrganizationUnlinked {
                organization_id,
                at,
            }])
        }
        C::DiscardExpiredTokens { at } => {
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
            Ok(vec![E::ExpiredTokensDiscarded {
                email_verification,
                phone_verification,
                password_reset,
                at,
            }])
        }
        // Never reaches here: `decide` takes batches apart before looking at the state.
        C::Batch(_) => Err(UserError::NotFound),
    }
}

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
            user.updated_at = *at;
        }
        E::PasswordChanged { password_hash, at } => {
            user.password_hash = Some(password_hash.clone());
            user.password_reset = None;
            user.updated_at = *at;
        }
        E::PasswordResetRequested { purpose, token } => {
            user.password_reset = Some((*purpose, token.clone()));
            user.updated_at = token.issued_at;
        }
        E::PasswordResetCompleted { password_hash, at } => {
            user.password_hash = Some(password_hash.clone());
            user.password_reset = None;
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
        E::UserDeleted { at } => {
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

#[cfg(test)]
mod tests;
