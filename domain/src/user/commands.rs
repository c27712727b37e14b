//! What can be asked of a user.

use super::{LockoutPolicy, Picture};
use crate::role_catalog::{ProfileValues, RoleDefinition};
use crate::values::{
    DeviceKind, Email, LanguageTag, OrganizationName, PasswordHash, PendingToken, PersonName,
    PhoneNumber, Profile, Reason, Role, TokenHash, Username,
};
use crate::{Duration, OrganizationId, SessionId, Timestamp, UserId};
use std::collections::BTreeSet;

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
    /// The language messages to them start in (the installation's default, unless chosen).
    pub preferred_language: Option<LanguageTag>,
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
        /// How the person signs in the first time.
        credential: FirstCredential,
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
    /// An administrator sets the password.
    SetPassword {
        /// The new password, hashed.
        password_hash: PasswordHash,
        /// Whether the person must change it at their next sign-in.
        temporary: bool,
        /// When.
        at: Timestamp,
    },
    /// The person signed in with a password that must be changed: issues the token that
    /// changes it (refused like a sign-in when the account is locked or deactivated).
    RequestRequiredPasswordChange {
        /// The new token.
        token: PendingToken,
    },
    /// Staff verify the email address by hand.
    VerifyEmailByHand {
        /// Why (how they know the address is the person's).
        reason: Reason,
        /// When.
        at: Timestamp,
    },
    /// Staff verify the phone number by hand.
    VerifyPhoneByHand {
        /// Why (how they know the number is the person's).
        reason: Reason,
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
        /// The kind of device it came from, if told.
        device: Option<DeviceKind>,
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
    /// Restores a deleted user, within `window` of their deletion.
    Restore {
        /// How long after a deletion a restore is possible.
        window: Duration,
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
    /// Sets the profile of a role the user holds, checked against the role's definition.
    SetRoleProfile {
        /// The role.
        role: Role,
        /// The role as the catalog defines it now.
        definition: RoleDefinition,
        /// The profile's values.
        values: ProfileValues,
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
        organization_name: OrganizationName,
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

/// How a user created by an administrator signs in the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstCredential {
    /// A password the administrator chose, hashed; the welcome message carries a link to verify
    /// the email address.
    Password {
        /// The password, hashed.
        password_hash: PasswordHash,
        /// Whether the person must change it at their first sign-in.
        temporary: bool,
        /// The email verification link the welcome message carries.
        email_verification: PendingToken,
    },
    /// No password: an invitation link to set one (following it verifies the address).
    Invitation(PendingToken),
}
