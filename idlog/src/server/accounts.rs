//! Accounts created outside the API: by an operator on the command line (`idlog users create`),
//! and the first administrator, from the `[bootstrap]` settings.

use super::wiring::{Core, role_catalog};
use crate::Usage;
use crate::config::Settings;
use anyhow::{Context, bail};
use application::AppError;
use application::accounts::{Creator, NewAccount, RoleCatalog};
use commands::CommandContext;
use domain::UserId;
use domain::user::UserState;
use domain::values::Email;
use secrecy::SecretString;

/// Creates a user from the command line or the bootstrap settings, as the system. Bad input (an
/// unknown role, an invalid email, a weak password, a taken email) is a [`Usage`] error, and
/// then nothing is appended.
pub async fn create_account(
    creator: &Creator<'_>,
    catalog: &RoleCatalog,
    request: AccountRequest,
) -> anyhow::Result<UserId> {
    let roles = request
        .roles
        .iter()
        .map(|name| {
            catalog.role(name).ok_or_else(|| {
                Usage(format!(
                    "unknown role {name}; the catalog has {}",
                    catalog.names().join(", ")
                ))
            })
        })
        .collect::<Result<_, Usage>>()?;
    let email = Email::parse(&request.email)
        .map_err(|error| Usage(format!("{}: {}", request.email, error.message)))?;
    let account = NewAccount {
        email,
        username: None,
        phone: None,
        first_name: None,
        last_name: None,
        roles,
        password: request.password,
    };
    let metadata = eventstore::EventMetadata {
        actor: request.actor,
        ..Default::default()
    };
    let executed = creator
        .create(
            account,
            CommandContext {
                metadata,
                ..Default::default()
            },
        )
        .await
        .map_err(|error| -> anyhow::Error {
            match error {
                AppError::User(commands::CommandError::Duplicate { kind }) => {
                    Usage(format!("that {kind} is already taken")).into()
                }
                AppError::Password { rejection, .. } => {
                    Usage(format!("the password {rejection}")).into()
                }
                other => anyhow::anyhow!("{other}"),
            }
        })?;
    match executed.state {
        UserState::Present(user) => Ok(user.id),
        UserState::Absent | UserState::Forgotten(_) => bail!("the user was not created"),
    }
}

/// A user to create from the command line or the bootstrap settings.
pub struct AccountRequest {
    /// Email address.
    pub email: String,
    /// Role names.
    pub roles: Vec<String>,
    /// The password, or none for an invitation.
    pub password: Option<SecretString>,
    /// Who is creating it, for the events' metadata.
    pub actor: eventstore::Actor,
}

/// Creates the first administrator from `[bootstrap]`, once: only while the log is empty.
pub(crate) async fn bootstrap_admin(core: &Core, settings: &Settings) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (
        &settings.bootstrap.admin_email,
        &settings.bootstrap.admin_password,
    ) else {
        return Ok(());
    };
    if core.log.head().await?.position > 0 {
        return Ok(());
    }
    let request = AccountRequest {
        email: email.clone(),
        roles: vec!["admin".into()],
        password: Some(password.clone()),
        actor: eventstore::Actor {
            kind: eventstore::ActorKind::System,
            id: Some("system:bootstrap".into()),
        },
    };
    let user_id = create_account(&core.creator(settings), &role_catalog(settings)?, request)
        .await
        .context("bootstrap.admin_email")?;
    tracing::info!(%user_id, "created the first administrator from the bootstrap settings");
    Ok(())
}
