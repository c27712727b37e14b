//! Accounts created outside the API: by an operator on the command line (`idlog users create`),
//! and the first administrator, from the `[bootstrap]` settings.

use super::wiring::{Core, role_seed};
use crate::Usage;
use crate::config::Settings;
use anyhow::{Context, bail};
use application::AppError;
use application::accounts::{Creator, NewAccount};
use commands::CommandContext;
use domain::UserId;
use domain::user::UserState;
use domain::values::{Email, InvalidValue, PersonName, PhoneNumber, Role, Username};
use secrecy::SecretString;

/// Creates a user from the command line or the bootstrap settings, as the system. Bad input (an
/// unknown role, an invalid email, a weak password, a taken email) is a [`Usage`] error, and
/// then nothing is appended.
pub async fn create_account(
    creator: &Creator<'_>,
    request: AccountRequest,
) -> anyhow::Result<UserId> {
    let roles = request
        .roles
        .iter()
        .map(|name| {
            Role::parse(name).map_err(|error| Usage(format!("role {name:?}: {}", error.message)))
        })
        .collect::<Result<_, Usage>>()?;
    let email = Email::parse(&request.email)
        .map_err(|error| Usage(format!("{}: {}", request.email, error.message)))?;
    if request.temporary_password && request.password.is_none() {
        bail!(Usage(
            "--temporary-password needs a password (without one, an invitation goes out)".into()
        ));
    }
    let account = NewAccount {
        email,
        username: optional(request.username, Username::parse, "--username")?,
        phone: optional(request.phone, PhoneNumber::parse, "--phone")?,
        first_name: optional(request.first_name, PersonName::parse, "--first-name")?,
        last_name: optional(request.last_name, PersonName::parse, "--last-name")?,
        roles,
        password: request.password,
        temporary_password: request.temporary_password,
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
                AppError::RoleNotInCatalog { role, catalog } => Usage(format!(
                    "unknown role {role}; the catalog has {}",
                    catalog.join(", ")
                ))
                .into(),
                other => anyhow::anyhow!("{other}"),
            }
        })?;
    match executed.state {
        UserState::Present(user) => Ok(user.id),
        UserState::Absent | UserState::Forgotten(_) => bail!("the user was not created"),
    }
}

/// `raw` parsed by `parse`; an invalid value is a [`Usage`] error naming `flag`.
fn optional<T>(
    raw: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    flag: &str,
) -> Result<Option<T>, Usage> {
    raw.map(|raw| parse(&raw).map_err(|error| Usage(format!("{flag} {raw:?}: {}", error.message))))
        .transpose()
}

/// A user to create from the command line or the bootstrap settings.
#[derive(Default)]
pub struct AccountRequest {
    /// Email address.
    pub email: String,
    /// Username.
    pub username: Option<String>,
    /// Phone number, international form.
    pub phone: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Whether the password must be changed at the first sign-in.
    pub temporary_password: bool,
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
        ..AccountRequest::default()
    };
    let seed = role_seed(settings)?;
    let user_id = create_account(&core.creator(settings, &seed), request)
        .await
        .context("bootstrap.admin_email")?;
    tracing::info!(%user_id, "created the first administrator from the bootstrap settings");
    Ok(())
}
