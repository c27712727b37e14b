//! The application layer: idlog's use cases and the one policy that authorizes them.
//!
//! Every front end (REST handlers, web pages, the command line) says who is asking (an
//! [`policy::Actor`], built by [`authority::Authority`] for a signed-in person) and calls the
//! same use cases on [`App`], which ask [`policy::authorize`] before acting; so a rule is
//! written once. Use cases take typed input and answer a typed result or an [`AppError`]; none
//! of them knows HTTP.

pub mod accounts;
pub mod administration;
pub mod api_keys;
pub mod auditing;
pub mod authentication;
pub mod authority;
pub mod catalog;
pub mod context;
pub mod credentials;
mod error;
pub mod invitations;
pub mod ip_blocks;
pub mod login;
pub mod mfa;
pub mod notifications;
pub mod operations;
pub mod organizations;
pub mod partners;
pub mod passwords;
pub mod pictures;
pub mod places;
pub mod policy;
pub mod privacy;
pub mod profiles;
pub mod queries;
pub mod rate_limit;
pub mod roles;
pub mod sessions;
pub mod settings;
pub mod users;
pub mod verification;
pub mod views;
pub mod wallets;

pub use context::RequestContext;
pub use error::{AppError, Resource};
pub use settings::AuthSettings;

use commands::CommandHandler;
use commands::tokens::TokenMinter;
use eventstore::EventLog;
use std::sync::Arc;
use std::time::Duration;

/// The read side as use cases see it: the projector (for waits and lag) and the queries.
#[derive(Clone, Debug)]
pub struct ReadSide {
    /// The projector (of this process or another one on the same database).
    pub projector: projections::Projector,
    /// Read-model queries.
    pub queries: projections::queries::Queries,
    /// The longest a query waits for its `min_position`.
    pub wait_timeout: Duration,
    /// Readiness fails while a projection lags by more events than this.
    pub max_ready_lag: u64,
}

impl ReadSide {
    /// The read side over `projector`'s database, with default waits.
    pub fn new(projector: projections::Projector) -> Self {
        Self {
            queries: projections::queries::Queries::new(projector.database().clone()),
            projector,
            wait_timeout: Duration::from_secs(5),
            max_ready_lag: 10_000,
        }
    }
}

/// What the use cases work with: the log and its command handler, the read side, the
/// credential machinery and the settings. Front ends hold one and call its use cases.
#[derive(Debug)]
pub struct App {
    /// Runs commands.
    pub commands: CommandHandler,
    /// Hashes and checks passwords.
    pub passwords: credentials::password::Passwords,
    /// Mints email and reset tokens.
    pub tokens: TokenMinter,
    /// Stores users' files (profile pictures).
    pub objects: Arc<dyn objects::ObjectStore>,
    /// Seals TOTP secrets.
    pub totp: credentials::totp::SecretSealer,
    /// Mints and checks access tokens.
    pub access_tokens: Arc<credentials::jwt::AccessTokenKeys>,
    /// Rate limits.
    pub rate_limits: rate_limit::RateLimits,
    /// Authentication settings.
    pub auth: AuthSettings,
    /// The read models.
    pub read: ReadSide,
    /// Where requests came from: addresses, and countries when a GeoIP database is set.
    pub places: places::Places,
    /// Administration that lives outside the log's process (storage folders, deliveries);
    /// `None` where this process runs no workers.
    pub workers: Option<Arc<dyn administration::WorkerAdministration>>,
    /// Work that finishes after its caller was answered (recording a failed login, issuing a
    /// reset link), so that neither its result nor its duration shows in the answer. Shutdown
    /// waits for it.
    pub background: tokio_util::task::TaskTracker,
}

impl App {
    /// The event log.
    pub fn log(&self) -> &EventLog {
        self.commands.log()
    }

    /// The position of the log's last event.
    pub async fn head_position(&self) -> Result<u64, AppError> {
        Ok(self
            .log()
            .head()
            .await
            .map_err(AppError::internal)?
            .position)
    }
}
