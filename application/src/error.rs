//! What a use case answers when it does not do what was asked: named for the caller, with no
//! HTTP in it; each front end maps it once (REST to problem+json, the command line to a message
//! and an exit code).

use crate::credentials::password::{HashingError, PasswordRejection};
use crate::policy::{Operation, Refusal};
use crate::rate_limit::RateLimited;
use commands::CommandError;
use domain::organization::{OrganizationError, OrganizationStatus};
use domain::session::SessionError;
use domain::user::UserError;
use domain::values::InvalidValue;

/// The kinds of things a caller asks about by id: what "not found" names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Resource {
    /// A user (person).
    User,
    /// An organization.
    Organization,
    /// One of the caller's sessions.
    Session,
    /// An invitation to an organization.
    Invitation,
    /// A member of an organization.
    Member,
    /// A user's profile picture.
    Picture,
    /// An organization's API key.
    #[strum(serialize = "API key")]
    ApiKey,
    /// An action of the partner activity catalog.
    #[strum(serialize = "action")]
    PartnerAction,
    /// A block of the IP block list.
    #[strum(serialize = "IP block")]
    IpBlock,
    /// A global role of the catalog.
    Role,
    /// Anything else (an operation whose target is the whole installation).
    Anything,
}

/// Why a use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The policy refused `operation`; for [`Refusal::NotFound`] the caller is told `resource`
    /// does not exist.
    #[error("refused ({refusal:?}): {operation}")]
    Refused {
        /// Why.
        refusal: Refusal,
        /// What was asked.
        operation: Operation,
        /// What the caller asked about.
        resource: Resource,
    },
    /// Nothing the caller may see has this id.
    #[error("no {0} has this id")]
    NotFound(Resource),
    /// A user command failed.
    #[error("{0}")]
    User(CommandError<UserError>),
    /// An organization command failed.
    #[error("{0}")]
    Organization(CommandError<OrganizationError>),
    /// A permission catalog command failed.
    #[error("{0}")]
    Catalog(CommandError<domain::catalog::CatalogError>),
    /// A change of the partner activity action catalog failed.
    #[error("{0}")]
    PartnerActions(CommandError<domain::partner::ActionCatalogError>),
    /// A partner activity record failed.
    #[error("{0}")]
    PartnerRecord(CommandError<domain::partner::RecordError>),
    /// A wallet command failed.
    #[error("{0}")]
    Wallet(CommandError<domain::wallet::WalletError>),
    /// A command that moves something (a wallet's credits) came without an idempotency key.
    #[error("an Idempotency-Key is required")]
    IdempotencyKeyRequired,
    /// A change of the IP block list failed.
    #[error("{0}")]
    IpBlocks(CommandError<domain::ip_block::IpBlockError>),
    /// The request's address is blocked: no sign-up, sign-in, refresh or password reset from it.
    #[error("the address is blocked")]
    AddressBlocked,
    /// A permission flag that may not be given now (not in the catalog, or retired).
    #[error("/permissions: {flag} is not in the catalog")]
    NotGrantable {
        /// The flag.
        flag: String,
        /// The flags that may be given.
        catalog: Vec<String>,
    },
    /// A global role that may not be granted now (not in the catalog, or retired).
    #[error("/roles: {role} is not in the catalog")]
    RoleNotInCatalog {
        /// The role.
        role: String,
        /// The roles that may be granted.
        catalog: Vec<String>,
    },
    /// A role catalog command failed.
    #[error("{0}")]
    RoleCatalog(CommandError<domain::role_catalog::RoleCatalogError>),
    /// A session command failed.
    #[error("{0}")]
    Session(CommandError<SessionError>),
    /// A field of the input is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    /// The input does not make sense as a whole (the detail says why).
    #[error("{0}")]
    Malformed(&'static str),
    /// The read models cannot answer the query as asked (the text says why).
    #[error("{0}")]
    Unanswerable(String),
    /// The log position to wait for was never given out (`head` is where the log ends, when
    /// the position is within `max`).
    #[error("no such log position")]
    NoSuchPosition {
        /// The log's last position, if the asked one is within the range of positions.
        head: Option<u64>,
        /// The highest position the log can have.
        max: u64,
    },
    /// The user did not exist at the point of the log asked about.
    #[error("the user did not exist at that point of the log")]
    NotThen,
    /// The read models have not applied `position` yet.
    #[error("read models behind position {position}")]
    ReadModelBehind {
        /// The position asked for.
        position: u64,
    },
    /// A query's parameter is invalid (`field` names it, as a JSON pointer).
    #[error("{field}: {message}")]
    InvalidQuery {
        /// Which parameter.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An uploaded picture is not one idlog takes.
    #[error(transparent)]
    Picture(crate::pictures::PictureError),
    /// A new password breaks the policy (`field` names where it was sent).
    #[error("{field}: password {rejection}")]
    Password {
        /// Where the password was sent (a JSON pointer, e.g. `/password`).
        field: &'static str,
        /// What is wrong with it.
        rejection: PasswordRejection,
    },
    /// The code is not the authenticator's current one.
    #[error("/code: not the current code of the authenticator")]
    WrongCode,
    /// The phone code is not the one sent.
    #[error("/code: not the code that was sent ({attempts_left} attempts left)")]
    WrongPhoneCode {
        /// Tries left before a new code is needed.
        attempts_left: u32,
    },
    /// What is named at `field` does not exist (or the caller may not know it does).
    #[error("{field}: no such {resource}")]
    Unknown {
        /// Where it was named.
        field: &'static str,
        /// What it should be.
        resource: Resource,
    },
    /// An org_admin creates accounts as invitations: the person sets their own password.
    #[error("an org_admin creates accounts as invitations: the person sets their own password")]
    PasswordNotYours,
    /// The invitation lapsed before it was answered.
    #[error("the invitation lapsed")]
    InvitationLapsed,
    /// The caller's own password, sent to confirm who they are, is wrong or missing.
    #[error("{field}: not the current password")]
    WrongPassword {
        /// Where the password was sent.
        field: &'static str,
    },
    /// Too many requests.
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// A login failed: the one answer, whatever failed (an unknown account, a wrong password
    /// or code, a locked or deactivated account).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The right password, but the user's organization keeps its members out.
    #[error("the organization is {0}")]
    OrganizationOutOfService(OrganizationStatus),
    /// The access or refresh token does not (or no longer) work.
    #[error("invalid or expired token")]
    InvalidToken,
    /// What is asked does not fit the state of things now (the text says why), e.g. skipping
    /// past a dead letter of a read model that is not stopped.
    #[error("{0}")]
    NotNow(String),
    /// A dependency is behind or down for now; retrying later can succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Something failed on idlog's side (store, hashing, a worker): logged, not shown.
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// For an operation on one's own account: a target the caller may not know of means their
    /// token no longer names them.
    pub fn hidden_as_invalid_token(self) -> Self {
        match self {
            Self::Refused {
                refusal: Refusal::NotFound,
                ..
            } => Self::InvalidToken,
            error => error,
        }
    }

    /// A failure on idlog's side.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<CommandError<domain::catalog::CatalogError>> for AppError {
    fn from(error: CommandError<domain::catalog::CatalogError>) -> Self {
        Self::Catalog(error)
    }
}

impl From<CommandError<domain::role_catalog::RoleCatalogError>> for AppError {
    fn from(error: CommandError<domain::role_catalog::RoleCatalogError>) -> Self {
        Self::RoleCatalog(error)
    }
}

impl From<CommandError<domain::wallet::WalletError>> for AppError {
    fn from(error: CommandError<domain::wallet::WalletError>) -> Self {
        Self::Wallet(error)
    }
}

impl From<CommandError<domain::ip_block::IpBlockError>> for AppError {
    fn from(error: CommandError<domain::ip_block::IpBlockError>) -> Self {
        Self::IpBlocks(error)
    }
}

impl From<CommandError<UserError>> for AppError {
    fn from(error: CommandError<UserError>) -> Self {
        Self::User(error)
    }
}

impl From<CommandError<OrganizationError>> for AppError {
    fn from(error: CommandError<OrganizationError>) -> Self {
        Self::Organization(error)
    }
}

impl From<CommandError<SessionError>> for AppError {
    fn from(error: CommandError<SessionError>) -> Self {
        Self::Session(error)
    }
}

impl From<HashingError> for AppError {
    fn from(error: HashingError) -> Self {
        Self::internal(error)
    }
}
