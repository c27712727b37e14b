//! What the operators' commands run with: the [`Operator`], the application as the API's
//! handlers have it, without the HTTP server and the workers.
//!
//! Every change goes through the same command handlers as the API, recorded with the actor
//! `system:cli:<os user>`, so the log stays the single source of truth; lifecycle commands take
//! the very path the API's do (locks, deactivations and deletions end sessions).

use super::{cli_actor, resolve_user};
use anyhow::Context;
use application::authority::Authority;
use application::users::{AccountAction, Preconditions};
use application::{App, AppError, RequestContext};
use domain::UserId;
use domain::user::{UserAggregate, UserState};
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::wiring::{Core, application, object_store, projector_over};
use projections::queries::{ListedUser, Queries, UserFilter};

/// What the application refused, as the command line's error: the caller's (exit 2), unless
/// it failed on idlog's side (exit 1).
pub(super) fn app_error(context: impl std::fmt::Display, error: AppError) -> anyhow::Error {
    match error {
        AppError::Internal(_) | AppError::Unavailable(_) => anyhow::anyhow!("{context}: {error}"),
        AppError::NotFound(_) => Usage(format!("{context}: no such user")).into(),
        error => Usage(format!("{context}: {error}")).into(),
    }
}

/// What the operators' commands run with: the application's state, without the HTTP server
/// and the workers (a running server's workers act on what is appended here).
pub struct Operator {
    /// The application, as the API's handlers have it.
    pub(super) app: App,
    /// The operator, to the policy: full rights, recorded as `system:cli:<os user>`.
    pub(super) authority: Authority,
}

impl Operator {
    /// Opens the database and builds the state.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let core = Core::open(settings).await?;
        let projector = projector_over(core.database.clone(), core.log.clone(), settings);
        let objects = object_store(settings).await?;
        let read = application::ReadSide::new(projector);
        let app = application(core, settings, read, objects, None)?;
        Ok(Self {
            app,
            authority: Authority::operator(cli_actor()),
        })
    }

    /// The read models brought up to the log's head (no server may be running to do it).
    pub(super) async fn queries(&self) -> anyhow::Result<&Queries> {
        let projector = &self.app.read.projector;
        projector
            .prepare()
            .await
            .context("preparing the read models")?;
        projector
            .catch_up()
            .await
            .context("bringing the read models up to date")?;
        Ok(&self.app.read.queries)
    }

    /// The user named by an id or an email address.
    pub(super) async fn resolve(&self, user: &str) -> anyhow::Result<UserId> {
        resolve_user(&self.app.commands, user).await
    }

    /// The user now (deleted ones too), with their stream version.
    pub(super) async fn current(
        &self,
        user_id: UserId,
    ) -> anyhow::Result<(Box<domain::user::User>, u64)> {
        let loaded = self
            .app
            .commands
            .current::<UserAggregate>(&user_id.to_string())
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        match loaded.state {
            UserState::Present(user) => Ok((user, loaded.version)),
            UserState::Absent => Err(Usage(format!("no user has the id {user_id}")).into()),
            UserState::Forgotten(_) => Err(Usage(format!("{user_id} was forgotten")).into()),
        }
    }

    /// Changes a user's account through the application, as the API does.
    pub(super) async fn change_account(
        &self,
        user_id: UserId,
        action: AccountAction,
    ) -> anyhow::Result<Box<domain::user::User>> {
        let executed = self
            .app
            .change_account(
                &self.authority,
                &RequestContext::default(),
                user_id,
                action,
                Preconditions::default(),
            )
            .await
            .map_err(|error| app_error(user_id, error))?;
        match executed.state {
            UserState::Present(user) => Ok(user),
            UserState::Absent | UserState::Forgotten(_) => {
                Err(anyhow::anyhow!("{user_id} vanished"))
            }
        }
    }

    /// Every user matching `filter`, all pages.
    pub(super) async fn all_users(
        &self,
        mut filter: UserFilter,
    ) -> anyhow::Result<Vec<ListedUser>> {
        let queries = self.queries().await?;
        filter.limit = Some(200);
        let mut users = Vec::new();
        loop {
            let page = queries
                .users(&filter, None)
                .await
                .map_err(|error| Usage(error.to_string()))?;
            users.extend(page.items);
            match page.next_cursor {
                Some(cursor) => filter.cursor = Some(cursor),
                None => return Ok(users),
            }
        }
    }
}
