//! What the API shows of domain objects.

use domain::Timestamp;
use domain::user::{User, UserStatus};
use serde::Serialize;

/// A user as the API shows it (never the password hash or pending tokens).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Username.
    pub username: Option<String>,
    /// Phone number (E.164).
    pub phone: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Global roles.
    pub roles: Vec<String>,
    /// The profiles of roles held, by role and field (`{"student": {"department": "physics",
    /// "year": 2}}`): text and dates as strings, integers as numbers, booleans as booleans.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub role_profiles: std::collections::BTreeMap<String, domain::role_catalog::ProfileValues>,
    /// `active`, `deactivated` or `deleted`.
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    /// `not_verified`, `email_verified`, `phone_verified` or `both_verified`.
    pub verification_status: &'static str,
    /// When the email address was verified.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros_option")]
    pub email_verified_at: Option<Timestamp>,
    /// When the phone number was verified.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros_option")]
    pub phone_verified_at: Option<Timestamp>,
    /// Whether the account is locked now.
    pub locked: bool,
    /// Whether the password must be changed at the next sign-in (set so by an administrator).
    pub password_change_required: bool,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    pub created_at: Timestamp,
    /// Last changed.
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    pub updated_at: Timestamp,
    /// Last login.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros_option")]
    pub last_login_at: Option<Timestamp>,
    /// The wallet, when it is open and the caller may read it (not in views of the past).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<WalletSummary>,
}

/// A wallet as a user's view shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WalletSummary {
    /// Credits in it.
    pub balance: u64,
    /// `active` or `frozen`.
    #[schema(value_type = String, example = "active")]
    pub status: domain::wallet::WalletStatus,
}

/// `not_verified`, `email_verified`, `phone_verified` or `both_verified`.
pub fn verification_status(user: &User) -> &'static str {
    match (
        user.email_verified_at.is_some(),
        user.phone_verified_at.is_some(),
    ) {
        (false, false) => "not_verified",
        (true, false) => "email_verified",
        (false, true) => "phone_verified",
        (true, true) => "both_verified",
    }
}

impl UserView {
    /// The view of `user` at `now`.
    pub fn new(user: &User, now: Timestamp) -> Self {
        let verification_status = verification_status(user);
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            username: user.username.as_ref().map(ToString::to_string),
            phone: user.phone.as_ref().map(ToString::to_string),
            first_name: user.first_name.as_ref().map(ToString::to_string),
            last_name: user.last_name.as_ref().map(ToString::to_string),
            roles: user.roles.iter().map(ToString::to_string).collect(),
            role_profiles: user
                .role_profiles
                .iter()
                .map(|(role, profile)| (role.to_string(), profile.clone()))
                .collect(),
            status: user.status,
            verification_status,
            email_verified_at: user.email_verified_at,
            phone_verified_at: user.phone_verified_at,
            locked: user.is_locked(now),
            password_change_required: user.password_change_required,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_login_at: user.last_login_at,
            wallet: None,
        }
    }

    /// The view without role profiles (for a caller the policy does not let read them).
    pub fn without_role_profiles(mut self) -> Self {
        self.role_profiles.clear();
        self
    }

    /// The view with `wallet` shown.
    pub fn with_wallet(mut self, wallet: Option<WalletSummary>) -> Self {
        self.wallet = wallet;
        self
    }
}
