//! The catalog of global roles, kept in the log ([`domain::role_catalog`]): administrators
//! define, change and retire roles; readers read the catalog. Every use case that grants a
//! role checks it here, and the policy learns here which roles are privileged. A role's
//! holders carry its profile (a student's department), set by administrators.
//!
//! Until the log holds a catalog, the configured roles (`auth.roles`) are the catalog; the
//! first change of the catalog, or the first grant of a role that is not built in, writes them
//! to the log, so every process reads the same catalog from then on.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::users::{Preconditions, Read};
use crate::{App, AppError, RequestContext, Resource};
use commands::{CommandContext, CommandError, CommandHandler, Executed};
use domain::UserId;
use domain::role_catalog::{
    ProfileValues, ROLE_CATALOG_STREAM, RoleCatalog, RoleCatalogAggregate, RoleCatalogCommand,
    RoleDefinition, is_built_in,
};
use domain::user::{UserAggregate, UserCommand, UserError};
use domain::values::Role;
use std::collections::BTreeMap;

/// The roles the configuration names, as they seed an empty log.
pub type RoleSeed = BTreeMap<Role, RoleDefinition>;

/// The role catalog as it stands: the log's, or the configured roles while the log has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(RoleCatalog);

impl Roles {
    /// `catalog` as folded from the log, or `seed` while the log holds none.
    pub fn new(catalog: RoleCatalog, seed: &RoleSeed) -> Self {
        if catalog.seeded {
            Self(catalog)
        } else {
            Self(RoleCatalog {
                seeded: false,
                active: seed.clone(),
                retired: BTreeMap::new(),
            })
        }
    }

    /// Whether the log holds the catalog (else the configured roles stand in for it).
    pub fn in_log(&self) -> bool {
        self.0.seeded
    }

    /// The roles that may be granted, with their definitions.
    pub fn active(&self) -> &BTreeMap<Role, RoleDefinition> {
        &self.0.active
    }

    /// The retired roles: holders keep them, nobody may be granted them.
    pub fn retired(&self) -> &BTreeMap<Role, RoleDefinition> {
        &self.0.retired
    }

    /// What `role` is, active or retired.
    pub fn definition(&self, role: &Role) -> Option<&RoleDefinition> {
        self.0.active.get(role).or_else(|| self.0.retired.get(role))
    }

    /// Whether any of `roles` is privileged. A retired role keeps its privilege for its
    /// holders, and a role held that the catalog does not know (granted under another
    /// configuration before the catalog was in the log) counts as privileged: the policy
    /// errs towards shielding its holder.
    pub fn any_privileged<'a>(&self, mut roles: impl Iterator<Item = &'a Role>) -> bool {
        roles.any(|role| self.definition(role).is_none_or(|role| role.privileged))
    }

    /// The roles that may be granted, by name, for messages and forms.
    pub fn names(&self) -> Vec<String> {
        self.0.active.keys().map(ToString::to_string).collect()
    }

    /// Refuses `roles` unless each may be granted now, naming the first that may not.
    pub fn require_grantable<'a>(
        &self,
        roles: impl IntoIterator<Item = &'a Role>,
    ) -> Result<(), AppError> {
        match roles
            .into_iter()
            .find(|role| !self.0.active.contains_key(*role))
        {
            Some(role) => Err(AppError::RoleNotInCatalog {
                role: role.to_string(),
                catalog: self.names(),
            }),
            None => Ok(()),
        }
    }
}

/// The catalog now, from memory while this process has seen every change of it.
pub(crate) async fn current_roles(
    commands: &CommandHandler,
    seed: &RoleSeed,
) -> Result<Roles, AppError> {
    let catalog = commands
        .followed_singleton::<RoleCatalogAggregate>(ROLE_CATALOG_STREAM)
        .await
        .map_err(AppError::internal)?;
    Ok(Roles::new(catalog.state, seed))
}

/// Refuses `roles` unless each may be granted now; before a role that is not built in is
/// first granted, writes the configured catalog to the log, so that no process with another
/// configuration reads a catalog without it.
pub(crate) async fn prepare_grant<'a>(
    commands: &CommandHandler,
    seed: &RoleSeed,
    metadata: &eventstore::EventMetadata,
    roles: impl IntoIterator<Item = &'a Role>,
) -> Result<(), AppError> {
    let catalog = current_roles(commands, seed).await?;
    let roles: Vec<&Role> = roles.into_iter().collect();
    catalog.require_grantable(roles.iter().copied())?;
    if !catalog.in_log() && roles.iter().any(|role| !is_built_in(role)) {
        let command = RoleCatalogCommand::Seed {
            seed: seed.clone(),
            at: chrono::Utc::now(),
        };
        let context = CommandContext {
            metadata: metadata.clone(),
            ..Default::default()
        };
        let seeded = commands
            .execute::<RoleCatalogAggregate>(ROLE_CATALOG_STREAM, command, context)
            .await?;
        // Another process may have written its catalog first: the log's is the one to obey.
        Roles::new(seeded.state, seed).require_grantable(roles)?;
    }
    Ok(())
}

/// A change to the catalog.
#[derive(Debug, Clone)]
pub enum RoleChange {
    /// Define a role (or a retired one again).
    Define(RoleDefinition),
    /// Change a role's privilege or fields.
    Change(RoleDefinition),
    /// Retire a role.
    Retire,
}

impl App {
    /// The catalog now (for use cases and the policy; no authorization).
    pub async fn roles(&self) -> Result<Roles, AppError> {
        current_roles(&self.commands, &self.auth.roles).await
    }

    /// The catalog, read from the log, if the policy lets `who` read it (administrators and
    /// readers).
    #[tracing::instrument(skip_all)]
    pub async fn role_catalog(&self, who: &Authority) -> Result<Roles, AppError> {
        who.require(
            Operation::ReadRoleCatalog,
            Target::Everything,
            Resource::Anything,
        )?;
        let catalog = self
            .commands
            .current::<RoleCatalogAggregate>(ROLE_CATALOG_STREAM)
            .await
            .map_err(AppError::internal)?;
        Ok(Roles::new(catalog.state, &self.auth.roles))
    }

    /// Defines, changes or retires `role`, if the policy lets `who` (administrators); answers
    /// the log position (`None`: the catalog had it so already).
    #[tracing::instrument(skip(self, who, context, change))]
    pub async fn change_role_catalog(
        &self,
        who: &Authority,
        context: &RequestContext,
        role: Role,
        change: RoleChange,
    ) -> Result<Option<u64>, AppError> {
        who.require(
            Operation::ManageRoleCatalog,
            Target::Everything,
            Resource::Anything,
        )?;
        let seed = self.auth.roles.clone();
        let at = chrono::Utc::now();
        let command = match change {
            RoleChange::Define(definition) => RoleCatalogCommand::Define {
                role,
                definition,
                seed,
                at,
            },
            RoleChange::Change(definition) => RoleCatalogCommand::Change {
                role,
                definition,
                seed,
                at,
            },
            RoleChange::Retire => RoleCatalogCommand::Retire { role, seed, at },
        };
        let executed = self
            .commands
            .execute::<RoleCatalogAggregate>(
                ROLE_CATALOG_STREAM,
                command,
                CommandContext {
                    metadata: who.acting(context),
                    ..Default::default()
                },
            )
            .await?;
        Ok(executed.position)
    }

    /// Sets the profile of `role`, which the user holds, checked against the role's definition
    /// (a retired role's profile may still be corrected), if the policy lets `who`
    /// (administrators, not on themselves). The policy is asked before anything about the role
    /// is looked at.
    #[tracing::instrument(skip(self, who, context, profile, preconditions))]
    pub async fn set_role_profile(
        &self,
        who: &Authority,
        context: &RequestContext,
        user_id: UserId,
        role: Role,
        profile: ProfileInput,
        preconditions: Preconditions,
    ) -> Result<Executed<UserAggregate>, AppError> {
        let (user, version) = self
            .authorized_user(who, user_id, Read::Followed, Operation::SetRoleProfile)
            .await?;
        let roles = self.roles().await?;
        let definition = roles
            .definition(&role)
            .cloned()
            .ok_or(AppError::NotFound(Resource::Role))?;
        let values = match profile {
            ProfileInput::Values(values) => values,
            ProfileInput::Text(pairs) => definition
                .values_from_text(
                    pairs
                        .iter()
                        .map(|(field, text)| (field.as_str(), text.as_str())),
                )
                .map_err(|problems| {
                    AppError::User(CommandError::Rejected(UserError::InvalidRoleProfile(
                        problems,
                    )))
                })?,
        };
        let command = UserCommand::SetRoleProfile {
            role,
            definition,
            values,
            at: chrono::Utc::now(),
        };
        let command_context = preconditions.context(who.metadata(context, user.id));
        self.on_user(user, version, command, command_context).await
    }
}

/// A role profile as sent.
#[derive(Debug, Clone)]
pub enum ProfileInput {
    /// Typed values (JSON).
    Values(ProfileValues),
    /// `field`, text pairs (a form, the command line), read by each field's type.
    Text(Vec<(String, String)>),
}
