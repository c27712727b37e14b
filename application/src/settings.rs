//! Authentication settings, typed once from configuration.

/// Authentication settings, from configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Register and password-forgot answer the same whether or not the account exists.
    pub hide_account_existence: bool,
    /// How long an email verification link works.
    pub email_verification_lifetime: domain::Duration,
    /// How long a phone verification code works.
    pub phone_code_lifetime: domain::Duration,
    /// How long a password reset link works.
    pub password_reset_lifetime: domain::Duration,
    /// Session lifetimes and limits.
    pub sessions: crate::sessions::SessionSettings,
    /// When failed logins lock an account.
    pub lockout: domain::user::LockoutPolicy,
    /// The configured roles: the role catalog until the log holds one.
    pub roles: crate::roles::RoleSeed,
    /// The permission flags a membership may carry.
    pub member_permissions: std::collections::BTreeSet<domain::values::Permission>,
    /// How long an invitation works: to set a first password, or to join an organization.
    pub invitation_lifetime: domain::Duration,
    /// How long after a deletion the user may be restored.
    pub restore_window: domain::Duration,
    /// The language a new user's `preferred_language` starts from.
    pub default_language: domain::values::LanguageTag,
    /// How recent a sign-in lets a person change their own email or phone without confirming
    /// their current password.
    pub reauth_window: domain::Duration,
    /// SHA-256 of the bearer credential services present to `POST /auth/introspect`; `None`
    /// turns introspection off.
    pub introspection_credential_hash: Option<domain::values::TokenHash>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            hide_account_existence: false,
            email_verification_lifetime: domain::Duration::hours(48),
            phone_code_lifetime: domain::Duration::minutes(10),
            password_reset_lifetime: domain::Duration::hours(24),
            sessions: crate::sessions::SessionSettings::default(),
            lockout: domain::user::LockoutPolicy {
                max_failed_attempts: 5,
                lock_duration: domain::Duration::minutes(15),
                max_lock_duration: domain::Duration::hours(24),
            },
            introspection_credential_hash: None,
            roles: domain::role_catalog::RoleCatalog::seed(&[], &[]),
            member_permissions: DEFAULT_MEMBER_PERMISSIONS
                .iter()
                .filter_map(|name| domain::values::Permission::parse(name).ok())
                .collect(),
            invitation_lifetime: domain::Duration::days(7),
            restore_window: domain::Duration::days(30),
            default_language: domain::values::LanguageTag::english(),
            reauth_window: domain::Duration::minutes(5),
        }
    }
}

/// The permission flags memberships may carry unless configured otherwise: the EDI partner
/// backend's five, each granting what its name says in its organization (the policy's rules):
/// `can_view_reports` its analytics, `can_manage_settings` its details, `can_view_transactions`
/// its transactions, `can_upload_files` and `can_download_files` recording what it sent and
/// received, and reading its file transfers.
pub const DEFAULT_MEMBER_PERMISSIONS: [&str; 5] = [
    "can_upload_files",
    "can_download_files",
    "can_view_transactions",
    crate::policy::CAN_VIEW_REPORTS,
    crate::policy::CAN_MANAGE_SETTINGS,
];
