//! Accounts coming into being: a person registering, and users created by an administrator,
//! an operator at the command line or the bootstrap. Both ways share their steps.

use crate::authority::Authority;
use crate::credentials::password::Passwords;
use crate::invitations::Offer;
use crate::policy::{Operation, Refusal, Target};
use crate::roles::{RoleSeed, prepare_grant};
use crate::{App, AppError, RequestContext, Resource};
use commands::tokens::{TokenMinter, TokenPurpose};
use commands::{CommandContext, CommandError, CommandHandler, Executed};
use domain::OrganizationId;
use domain::organization::OrgRole;
use domain::user::UserState;
use domain::user::{FirstCredential, NewUser, UserAggregate, UserCommand};
use domain::values::{Email, LanguageTag, PasswordHash, PersonName, PhoneNumber, Role, Username};
use domain::{Duration, Timestamp, UserId};
use eventstore::IdempotencyKey;
use secrecy::SecretString;
use std::collections::BTreeSet;

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
    /// Whether the password must be changed at the first sign-in.
    pub temporary_password: bool,
}

/// A person signing themself up.
#[derive(Debug)]
pub struct Registration {
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
    /// Their password.
    pub password: SecretString,
}

/// What a registration did.
#[derive(Debug)]
pub enum Registered {
    /// The account exists now, unverified.
    Created(Executed<UserAggregate>),
    /// With `hide_account_existence`: nothing is said (the address's owner is told by email
    /// if it was taken).
    Hidden,
}

/// The global role everyone who signs up holds.
const SIGNED_UP_ROLE: &str = "user";

impl App {
    /// Registers a person (unverified) and starts their email verification.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        context: &RequestContext,
        registration: Registration,
    ) -> Result<Registered, AppError> {
        self.refuse_blocked_address(context).await?;
        self.rate_limits
            .register_per_ip
            .check(context.ip.as_deref().unwrap_or_default())?;
        let password_hash = hash_new_password(
            &self.passwords,
            registration.password,
            &registration.email,
            registration.username.as_ref(),
        )
        .await?;
        let (user_id, now) = new_user();
        let (email_verification, _) = self.tokens.issue(
            TokenPurpose::EmailVerification,
            user_id,
            now,
            self.auth.email_verification_lifetime,
        );
        let command = UserCommand::Register {
            user: NewUser {
                user_id,
                email: registration.email,
                username: registration.username,
                phone: registration.phone,
                first_name: registration.first_name,
                last_name: registration.last_name,
                roles: [Role::parse(SIGNED_UP_ROLE)?].into(),
                preferred_language: Some(self.auth.default_language.clone()),
            },
            password_hash,
            email_verification,
            at: now,
        };
        let command_context = CommandContext {
            metadata: context.user_metadata(&user_id.to_string()),
            ..Default::default()
        };
        let hide = self.auth.hide_account_existence;
        match self
            .commands
            .execute::<UserAggregate>(&user_id.to_string(), command, command_context)
            .await
        {
            Ok(_) if hide => Ok(Registered::Hidden),
            Ok(executed) => {
                tracing::info!(user_id = %user_id, "registered");
                Ok(Registered::Created(executed))
            }
            // The owner of the address is told by email instead (once the email worker runs).
            Err(CommandError::Duplicate { .. }) if hide => Ok(Registered::Hidden),
            Err(error) => Err(error.into()),
        }
    }
}

/// A new user's id, and the time of their creation.
fn new_user() -> (UserId, Timestamp) {
    (UserId::from_uuid(uuid::Uuid::now_v7()), chrono::Utc::now())
}

/// `password`'s hash if it meets the policy (which refuses one close to the person's email or
/// username).
async fn hash_new_password(
    passwords: &Passwords,
    password: SecretString,
    email: &Email,
    username: Option<&Username>,
) -> Result<PasswordHash, AppError> {
    let identifiers: Vec<&str> = [Some(email.as_str()), username.map(Username::as_str)]
        .into_iter()
        .flatten()
        .collect();
    passwords
        .check_policy(&password, &identifiers)
        .map_err(|rejection| AppError::Password {
            field: "/password",
            rejection,
        })?;
    Ok(passwords.hash(password).await?)
}

/// What creating a user needs.
#[derive(Debug, Clone)]
pub struct Creator<'a> {
    /// Runs the command.
    pub commands: &'a CommandHandler,
    /// Hashes the password.
    pub passwords: &'a Passwords,
    /// Mints the invitation token.
    pub tokens: &'a TokenMinter,
    /// How long an invitation link works.
    pub invitation_lifetime: Duration,
    /// How long the welcome message's verification link works.
    pub email_verification_lifetime: Duration,
    /// The language a new user's messages start in.
    pub default_language: LanguageTag,
    /// The configured roles, which seed an empty log's role catalog.
    pub role_seed: &'a RoleSeed,
}

impl Creator<'_> {
    /// Creates the user, with the password or an invitation to set one.
    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        account: NewAccount,
        context: CommandContext,
    ) -> Result<Executed<UserAggregate>, AppError> {
        prepare_grant(
            self.commands,
            self.role_seed,
            &context.metadata,
            &account.roles,
        )
        .await?;
        let password_hash = match account.password {
            Some(password) => Some(
                hash_new_password(
                    self.passwords,
                    password,
                    &account.email,
                    account.username.as_ref(),
                )
                .await?,
            ),
            None => None,
        };
        let (user_id, now) = new_user();
        let credential = match password_hash {
            Some(password_hash) => FirstCredential::Password {
                password_hash,
                temporary: account.temporary_password,
                email_verification: self
                    .tokens
                    .issue(
                        TokenPurpose::EmailVerification,
                        user_id,
                        now,
                        self.email_verification_lifetime,
                    )
                    .0,
            },
            None => FirstCredential::Invitation(
                self.tokens
                    .issue(
                        TokenPurpose::PasswordReset,
                        user_id,
                        now,
                        self.invitation_lifetime,
                    )
                    .0,
            ),
        };
        let command = UserCommand::Create {
            user: NewUser {
                user_id,
                email: account.email,
                username: account.username,
                phone: account.phone,
                first_name: account.first_name,
                last_name: account.last_name,
                roles: account.roles,
                preferred_language: Some(self.default_language.clone()),
            },
            credential,
            at: now,
        };
        Ok(self
            .commands
            .execute::<UserAggregate>(&user_id.to_string(), command, context)
            .await?)
    }
}

/// Where a new user goes, besides the installation.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The organization.
    pub organization: OrganizationId,
    /// Their role there.
    pub role: OrgRole,
}

impl App {
    /// Creates accounts with this application's handlers, passwords, tokens and lifetimes.
    pub fn creator(&self) -> Creator<'_> {
        Creator {
            commands: &self.commands,
            passwords: &self.passwords,
            tokens: &self.tokens,
            invitation_lifetime: self.auth.invitation_lifetime,
            email_verification_lifetime: self.auth.email_verification_lifetime,
            default_language: self.auth.default_language.clone(),
            role_seed: &self.auth.roles,
        }
    }

    /// Creates a user, optionally in an organization. Administrators create accounts and add
    /// members directly; an org_admin creates the account as an invitation (the person sets
    /// their own password and joins when they accept), so they may not set a password. Roles
    /// other than the default (`roles_chosen`) are for those who may change roles.
    #[tracing::instrument(skip_all)]
    pub async fn create_user(
        &self,
        who: &Authority,
        context: &RequestContext,
        account: NewAccount,
        roles_chosen: bool,
        placement: Option<Placement>,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Executed<UserAggregate>, AppError> {
        if account.temporary_password && account.password.is_none() {
            return Err(AppError::Invalid(domain::values::InvalidValue {
                field: "temporary_password",
                message: "needs a password (without one, an invitation goes out)".into(),
            }));
        }
        let organization = match placement {
            Some(placement) => {
                let (organization, _) = self
                    .authorized_organization(who, placement.organization, Operation::CreateUser)
                    .await
                    .map_err(|error| match error {
                        AppError::NotFound(_)
                        | AppError::Refused {
                            refusal: Refusal::NotFound,
                            ..
                        } => AppError::Unknown {
                            field: "/organization",
                            resource: Resource::Organization,
                        },
                        error => error,
                    })?;
                Some((organization, placement.role))
            }
            None => {
                who.require(Operation::CreateUser, Target::Everything, Resource::User)?;
                None
            }
        };
        if roles_chosen {
            who.require(Operation::ChangeRoles, Target::Everything, Resource::User)?;
        }
        let adds_directly = who.allows(Operation::CreateUser, Target::Everything);
        if !adds_directly && account.password.is_some() {
            return Err(AppError::PasswordNotYours);
        }
        let creator = self.creator();
        // The new user's id is not known yet: the actor is the administrator.
        let metadata = who.administering(context);
        let command_context = CommandContext {
            metadata: metadata.clone(),
            idempotency,
            ..Default::default()
        };
        let executed = creator.create(account, command_context).await?;
        if let (Some((organization, role)), UserState::Present(user)) =
            (organization, &executed.state)
            && !executed.replayed
        {
            if adds_directly {
                let member_context = CommandContext {
                    metadata,
                    data_subject: Some(organization.id.to_string()),
                    ..Default::default()
                };
                self.add_member(member_context, organization.id, user, role, BTreeSet::new())
                    .await?;
            } else {
                let offer = Offer {
                    role,
                    permissions: BTreeSet::new(),
                };
                self.invite(metadata, &organization, user, offer).await?;
            }
        }
        Ok(executed)
    }
}
