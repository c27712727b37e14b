//! What happens to a user: the events of their stream, and the names those events are stored by.

use super::{LockKind, Picture, ResetPurpose};
use crate::role_catalog::ProfileValues;
use crate::values::{
    DeviceKind, Email, LanguageTag, OrganizationName, PasswordHash, PendingToken, PersonName,
    Personal, PhoneNumber, Profile, Reason, Role, TokenHash, Username, erasable,
};
use crate::{DomainEvent, OrganizationId, SessionId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What happened to a user.
///
/// [`UserEventType`] names its variants without their fields: the stored event type, so code
/// that reads the log without decoding payloads matches on names the compiler checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "type", content = "data")]
#[strum_discriminants(
    name(UserEventType),
    doc = "The type of a [`UserEvent`], as stored with it; see [`UserEventType::as_str`].",
    derive(
        Hash,
        PartialOrd,
        Ord,
        strum::IntoStaticStr,
        strum::EnumString,
        strum::Display,
        strum::VariantNames,
        strum::EnumIter
    )
)]
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
        #[serde(default, deserialize_with = "erasable::optional")]
        preferred_language: Option<LanguageTag>,
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
        #[serde(default, deserialize_with = "erasable::optional")]
        preferred_language: Option<LanguageTag>,
        at: Timestamp,
    },
    /// A verification link was sent to the email address.
    EmailVerificationRequested { token: PendingToken },
    /// The email address was verified: by its owner following a link, or by hand by staff
    /// (`by_hand` says why).
    EmailVerified {
        email: Personal<Email>,
        #[serde(default, deserialize_with = "erasable::optional")]
        by_hand: Option<Reason>,
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
    /// The phone number was verified: by its owner entering a code, or by hand by staff
    /// (`by_hand` says why).
    PhoneVerified {
        phone: Personal<PhoneNumber>,
        #[serde(default, deserialize_with = "erasable::optional")]
        by_hand: Option<Reason>,
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
    /// An administrator set the password.
    PasswordSet {
        password_hash: PasswordHash,
        at: Timestamp,
    },
    /// The password just set (at creation, or by an administrator) must be changed at the next
    /// sign-in.
    PasswordChangeRequired { at: Timestamp },
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
    /// A login came from a kind of device the account was not signed in from before (`first`:
    /// the account had none yet, so there is no one to warn).
    SignedInFromNewDevice {
        device: DeviceKind,
        first: bool,
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
    /// A deleted user was restored: their email, username and phone are theirs again, their
    /// status is what it was before, their memberships are not back.
    UserRestored { at: Timestamp },
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
        organization_name: OrganizationName,
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
    /// The profile of a role the user holds was set (e.g. a student's department).
    RoleProfileSet {
        role: Role,
        #[serde(deserialize_with = "erasable::or_default")]
        profile: ProfileValues,
        at: Timestamp,
    },
}

impl UserEventType {
    /// The event type as stored in the log, e.g. `"UserRegistered"`.
    ///
    /// ```
    /// use domain::DomainEvent;
    /// use domain::user::UserEventType;
    ///
    /// assert_eq!(UserEventType::UserRegistered.as_str(), "UserRegistered");
    /// assert_eq!("UserForgotten".parse(), Ok(UserEventType::UserForgotten));
    /// assert!("NoSuchEvent".parse::<UserEventType>().is_err());
    /// let forgotten = domain::user::UserEvent::UserForgotten { at: Default::default() };
    /// assert_eq!(UserEventType::from(&forgotten).as_str(), forgotten.event_type());
    /// ```
    pub const fn as_str(self) -> &'static str {
        // The names are listed in declaration order, the order of the discriminants; `const`
        // so that names like [`USER_FORGOTTEN`] can be constants.
        <Self as strum::VariantNames>::VARIANTS[self as usize]
    }
}

/// The type of [`UserEvent::UserForgotten`], after which a person's data is erased everywhere:
/// readers of the log that do not decode user events match on it.
pub const USER_FORGOTTEN: &str = UserEventType::UserForgotten.as_str();

impl DomainEvent for UserEvent {
    fn event_type(&self) -> &'static str {
        // One source for the name: the type the rest of the system matches on.
        UserEventType::from(self).as_str()
    }

    fn forgets_data_subject(&self) -> bool {
        matches!(self, Self::UserForgotten { .. })
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::UserRegistered { .. } | Self::UserCreated { .. } => &[
                "/email",
                "/username",
                "/phone",
                "/first_name",
                "/last_name",
                "/preferred_language",
            ],
            Self::EmailVerified { .. } => &["/email", "/by_hand"],
            Self::PhoneVerified { .. } => &["/phone", "/by_hand"],
            Self::ProfileUpdated { .. } => &["/first_name", "/last_name", "/profile"],
            Self::EmailChanged { .. } => &["/old_email", "/new_email"],
            Self::PhoneChanged { .. } => &["/old_phone", "/new_phone"],
            Self::UsernameChanged { .. } => &["/old_username", "/new_username"],
            Self::AccountLocked { .. } | Self::UserDeactivated { .. } => &["/reason"],
            Self::RoleProfileSet { .. } => &["/profile"],
            Self::EmailVerificationRequested { .. }
            | Self::PhoneVerificationRequested { .. }
            | Self::PhoneVerificationFailed { .. }
            | Self::RoleGranted { .. }
            | Self::RoleRevoked { .. }
            | Self::PasswordChanged { .. }
            | Self::PasswordSet { .. }
            | Self::PasswordChangeRequired { .. }
            | Self::PasswordResetRequested { .. }
            | Self::PasswordResetCompleted { .. }
            | Self::LoginSucceeded { .. }
            | Self::SignedInFromNewDevice { .. }
            | Self::LoginFailed { .. }
            | Self::AccountUnlocked { .. }
            | Self::UserReactivated { .. }
            | Self::UserDeleted { .. }
            | Self::UserRestored { .. }
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
