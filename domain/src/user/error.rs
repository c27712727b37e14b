//! Why a user command is refused.

use crate::Timestamp;

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
    /// Restoring a user who is not deleted.
    #[error("the user is not deleted")]
    NotDeleted,
    /// Restoring a user deleted longer ago than restores reach.
    #[error("the user was deleted too long ago to be restored")]
    RestoreWindowPassed,
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
    /// The password must be changed before the account is used.
    #[error("the password must be changed first")]
    PasswordChangeRequired,
    /// A change token was asked for although no change is required.
    #[error("no password change is required")]
    NoPasswordChangeRequired,
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
    /// A role profile for a role the user does not hold.
    #[error("the user does not hold this role")]
    RoleNotHeld,
    /// A role profile the role's definition does not take: each field and what is wrong.
    #[error("the role profile does not fit the role")]
    InvalidRoleProfile(Vec<(String, String)>),
}
