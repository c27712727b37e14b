//! Creating users by an administrator, an operator at the command line, or the bootstrap: one
//! path for all three.

use crate::auth::password::{HashingError, PasswordRejection, Passwords};
use crate::auth::tokens::{TokenMinter, TokenPurpose};
use application::policy::PRIVILEGED_ROLES;
use commands::{CommandContext, CommandError, CommandHandler, Executed};
use domain::user::{NewUser, UserAggregate, UserCommand, UserError};
use domain::values::{Email, PersonName, PhoneNumber, Role, Username};
use domain::{Duration, UserId};
use secrecy::SecretString;
use std::collections::BTreeSet;

/// The global roles every installation has.
pub const BUILT_IN_ROLES: [&str; 4] = ["admin", "auditor", "analyst", "user"];

/// The global roles that may be granted: the built-in ones and those configured, and which of
/// them are privileged (only their holder and administrators act on a holder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCatalog {
    roles: BTreeSet<Role>,
    privileged: BTreeSet<Role>,
}

impl RoleCatalog {
    /// The built-in roles and `extra` ones (e.g. `ATHLETE`, `COACH`).
    pub fn new(extra: &[Role]) -> Self {
        let built_in = BUILT_IN_ROLES
            .iter()
            .filter_map(|name| Role::parse(name).ok());
        let privileged = PRIVILEGED_ROLES
            .iter()
            .filter_map(|role| Role::parse(&role.to_string()).ok())
            .collect();
        Self {
            roles: built_in.chain(extra.iter().cloned()).collect(),
            privileged,
        }
    }

    /// Marks catalog roles privileged, beside admin, auditor and analyst; a role the catalog
    /// does not have is named in the error.
    pub fn with_privileged(mut self, roles: &[Role]) -> Result<Self, Role> {
        for role in roles {
            if !self.roles.contains(role) {
                return Err(role.clone());
            }
            self.privileged.insert(role.clone());
        }
        Ok(self)
    }

    /// The role named `name`, if the catalog has it.
    pub fn role(&self, name: &str) -> Option<Role> {
        let role = Role::parse(name).ok()?;
        self.roles.contains(&role).then_some(role)
    }

    /// Whether any of `roles` is privileged.
    pub fn any_privileged<'a>(&self, mut roles: impl Iterator<Item = &'a Role>) -> bool {
        roles.any(|role| self.privileged.contains(role))
    }

    /// The roles, for messages.
    pub fn names(&self) -> Vec<String> {
        self.roles.iter().map(ToString::to_string).collect()
    }
}

impl Default for RoleCatalog {
    fn default() -> Self {
        Self::new(&[])
    }
}

/// A user to create.
#[derive(Debug)]
pub struct NewAccount {
    /// Email address.
    pub email: Email,
    /// Username.
    pub username: Option<Username>,
    /// Phone number.
    pub phone: Option<PhoneNumber>,
    /// First name.
    pub first_name: Option<PersonName>,
    /// Last name.
    pub last_name: Option<PersonName>,
    /// Global roles (from the catalog).
    pub roles: BTreeSet<Role>,
    /// A password; without one an invitation link to set it goes out by email.
    pub password: Option<SecretString>,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// The password breaks the policy.
    #[error("password {0}")]
    Password(PasswordRejection),
    /// Hashing failed.
    #[error(transparent)]
    Hashing(#[from] HashingError),
    /// The command was refused or the store failed (a taken email is `Duplicate`).
    #[error("{0}")]
    Command(CommandError<UserError>),
}

/// What creating a user needs.
#[derive(Debug, Clone, Copy)]
pub struct Creator<'a> {
    /// Runs the command.
    pub commands: &'a CommandHandler,
    /// Hashes the password.
    pub passwords: &'a Passwords,
    /// Mints the invitation token.
    pub tokens: &'a TokenMinter,
    /// How long an invitation link works.
    pub invitation_lifetime: Duration,
}

impl Creator<'_> {
    /// Creates the user, with the password or an invitation to set one.
    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        account: NewAccount,
        context: CommandContext,
    ) -> Result<Executed<UserAggregate>, CreateAccountError> {
        let identifiers: Vec<&str> = [
            Some(account.email.as_str()),
            account.username.as_ref().map(Username::as_str),
        ]
        .into_iter()
        .flatten()
        .collect();
        let password_hash = match account.password {
            Some(password) => {
                self.passwords
                    .check_policy(&password, &identifiers)
                    .map_err(CreateAccountError::Password)?;
                Some(self.passwords.hash(password).await?)
            }
            None => None,
        };
        let now = chrono::Utc::now();
        let user_id = UserId::from_uuid(uuid::Uuid::now_v7());
        let invitation = password_hash.is_none().then(|| {
            self.tokens
                .issue(
                    TokenPurpose::PasswordReset,
                    user_id,
                    now,
                    self.invitation_lifetime,
                )
                .0
        });
        let command = UserCommand::Create {
            user: NewUser {
                user_id,
                email: account.email,
                username: account.username,
                phone: account.phone,
                first_name: account.first_name,
                last_name: account.last_name,
                roles: account.roles,
            },
            password_hash,
            invitation,
            at: now,
        };
        self.commands
            .execute::<UserAggregate>(&user_id.to_string(), command, context)
            .await
            .map_err(CreateAccountError::Command)
    }
}
