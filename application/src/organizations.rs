//! Organizations (partners) and their members.

use crate::authority::Authority;
use crate::policy::{Operation, Person, Target};
use crate::users::Preconditions;
use crate::{App, AppError, RequestContext, Resource};
use commands::{CommandContext, CommandError};
use domain::organization::{
    Contact, OrgRole, Organization, OrganizationAggregate, OrganizationCommand, OrganizationError,
    OrganizationState, OrganizationStatus, PartnerDetails,
};
use domain::user::{User, UserAggregate, UserCommand};
use domain::values::{
    DisplayName, Email, OrganizationName, PartnerCode, Permission, PersonName, PhoneNumber,
};
use domain::{ClaimKind, OrganizationId, Timestamp, UserId};
use eventstore::{EventMetadata, IdempotencyKey};
use std::collections::BTreeSet;

impl App {
    /// Ends `user`'s memberships, as deleting or forgetting them does: every organization that
    /// still lists them records their removal, as the same actor. Linked organizations that do
    /// not list them are left as they are; a removal someone else made first is no error.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub(crate) async fn end_memberships(
        &self,
        metadata: &EventMetadata,
        user: &User,
        at: Timestamp,
    ) -> Result<(), AppError> {
        for organization_id in &user.organizations {
            let removal = self
                .commands
                .execute::<OrganizationAggregate>(
                    &organization_id.to_string(),
                    OrganizationCommand::RemoveMember {
                        user_id: user.id,
                        at,
                    },
                    CommandContext {
                        metadata: metadata.clone(),
                        data_subject: Some(organization_id.to_string()),
                        ..Default::default()
                    },
                )
                .await;
            match removal {
                Ok(_)
                | Err(CommandError::Rejected(
                    OrganizationError::NotAMember | OrganizationError::NotFound,
                )) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// An organization, as folded from its stream now.
    pub async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<(Box<Organization>, u64)>, AppError> {
        let loaded = self
            .commands
            .current::<OrganizationAggregate>(&id.to_string())
            .await?;
        Ok(match loaded.state {
            OrganizationState::Present(organization) => Some((organization, loaded.version)),
            OrganizationState::Absent => None,
        })
    }

    /// Adds the existing user `member.user_id` (as sent) to organization `id` directly:
    /// administrators only; others invite (see [`Self::invite_member`]).
    #[tracing::instrument(skip_all)]
    pub async fn add_member_directly(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        member: NewMember,
        preconditions: Preconditions,
    ) -> Result<OrganizationOutcome, AppError> {
        let (organization, _) = self
            .authorized_organization(who, id, Operation::ReadOrganization)
            .await?;
        let user = self.existing_user(&member.user_id, "/user_id").await?;
        let person = who.person(self, &user).await?;
        who.require(
            Operation::AddMember,
            Target::Member {
                organization: organization.id,
                person: &person,
            },
            Resource::Organization,
        )?;
        self.check_grantable(&member.permissions).await?;
        let command_context = CommandContext {
            data_subject: Some(organization.id.to_string()),
            ..preconditions.context(who.metadata(context, user.id))
        };
        self.add_member(
            command_context,
            organization.id,
            &user,
            member.role,
            member.permissions,
        )
        .await
    }

    /// Adds `user` to an organization: links the user to it, then adds the membership (so a
    /// user's links are always a superset of their memberships). The caller authorized it.
    pub async fn add_member(
        &self,
        context: CommandContext,
        organization_id: OrganizationId,
        user: &User,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
    ) -> Result<OrganizationOutcome, AppError> {
        let now = chrono::Utc::now();
        let link = UserCommand::LinkOrganization {
            organization_id,
            at: now,
        };
        let link_context = CommandContext {
            metadata: context.metadata.clone(),
            ..Default::default()
        };
        self.commands
            .execute::<UserAggregate>(&user.id.to_string(), link, link_context)
            .await?;
        let add = OrganizationCommand::AddMember {
            user_id: user.id,
            role,
            permissions,
            at: now,
        };
        let executed = self
            .commands
            .execute::<OrganizationAggregate>(&organization_id.to_string(), add, context)
            .await?;
        Ok((executed.state, executed.stream_version, executed.position))
    }
}

/// A new organization.
#[derive(Debug)]
pub struct NewOrganization {
    /// Its unique name.
    pub name: OrganizationName,
    /// How it is shown.
    pub display_name: Option<DisplayName>,
    /// Whom to contact.
    pub contact: Contact,
    /// Active unless said otherwise.
    pub status: OrganizationStatus,
    /// Its partner details, for an EDI partner.
    pub partner: Option<PartnerDetails>,
}

/// What to change of an organization; each `Some` replaces what it has.
#[derive(Debug, Default)]
pub struct OrganizationChanges {
    /// A new unique name.
    pub name: Option<OrganizationName>,
    /// A new display name.
    pub display_name: Option<DisplayName>,
    /// A new contact name.
    pub contact_name: Option<PersonName>,
    /// A new contact email.
    pub contact_email: Option<Email>,
    /// A new contact phone.
    pub contact_phone: Option<PhoneNumber>,
    /// A new status.
    pub status: Option<OrganizationStatus>,
    /// New partner details (`Some(None)` removes them).
    pub partner: Option<Option<PartnerDetails>>,
}

/// A member to add: an existing user, by id as sent.
#[derive(Debug)]
pub struct NewMember {
    /// The user's id, as sent.
    pub user_id: String,
    /// Their role.
    pub role: OrgRole,
    /// Their permission flags.
    pub permissions: BTreeSet<Permission>,
}

/// What to change of a membership; `None` keeps what the member has.
#[derive(Debug, Default)]
pub struct MemberChange {
    /// A new role.
    pub role: Option<OrgRole>,
    /// New permission flags.
    pub permissions: Option<BTreeSet<Permission>>,
}

/// What happened to an organization: its state after, its stream version and the log position
/// (none when nothing was appended).
pub type OrganizationOutcome = (OrganizationState, u64, Option<u64>);

impl App {
    /// The organization `id` if the policy lets `who` do `operation` to it; "not found" when
    /// there is none or `who` may not see it.
    pub async fn authorized_organization(
        &self,
        who: &Authority,
        id: OrganizationId,
        operation: Operation,
    ) -> Result<(Box<Organization>, u64), AppError> {
        let (organization, version) = self
            .organization(id)
            .await?
            .ok_or(AppError::NotFound(Resource::Organization))?;
        who.require(operation, Target::Organization(id), Resource::Organization)?;
        Ok((organization, version))
    }

    /// A member of `organization` as the policy sees them; "not a member" otherwise.
    pub async fn member(
        &self,
        who: &Authority,
        organization: &Organization,
        user_id: UserId,
    ) -> Result<Person, AppError> {
        if !organization.members.contains_key(&user_id) {
            return Err(AppError::NotFound(Resource::Member));
        }
        let loaded = self
            .commands
            .followed::<UserAggregate>(&user_id.to_string())
            .await?;
        who.person_in(self, user_id, &loaded.state).await
    }

    /// The member `user_id` of organization `id`, once the policy lets `who` do `operation` to
    /// them.
    pub async fn authorized_member(
        &self,
        who: &Authority,
        id: OrganizationId,
        user_id: UserId,
        operation: Operation,
    ) -> Result<(Box<Organization>, Person), AppError> {
        let (organization, _) = self
            .authorized_organization(who, id, Operation::ReadOrganization)
            .await?;
        let person = self.member(who, &organization, user_id).await?;
        who.require(
            operation,
            Target::Member {
                organization: organization.id,
                person: &person,
            },
            Resource::Member,
        )?;
        Ok((organization, person))
    }

    /// Creates an organization.
    #[tracing::instrument(skip_all)]
    pub async fn create_organization(
        &self,
        who: &Authority,
        context: &RequestContext,
        new: NewOrganization,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<OrganizationOutcome, AppError> {
        who.require(
            Operation::CreateOrganization,
            Target::Everything,
            Resource::Organization,
        )?;
        if new.partner.is_some() {
            who.require(
                Operation::ChangePartnerDetails,
                Target::Everything,
                Resource::Organization,
            )?;
        }
        let organization_id = OrganizationId::from_uuid(uuid::Uuid::now_v7());
        let command_context = CommandContext {
            metadata: who.acting(context),
            idempotency,
            data_subject: Some(organization_id.to_string()),
            ..Default::default()
        };
        let create = OrganizationCommand::Create {
            organization_id,
            name: new.name,
            display_name: new.display_name,
            contact: new.contact,
            status: new.status,
            partner: new.partner,
            at: chrono::Utc::now(),
        };
        let executed = self
            .commands
            .execute::<OrganizationAggregate>(&organization_id.to_string(), create, command_context)
            .await?;
        Ok((executed.state, executed.stream_version, executed.position))
    }

    /// Changes organization `id`: one command per changed aspect, decided and appended as one
    /// batch under the preconditions. Renaming, changing the status and the partner details are
    /// operations of their own to the policy.
    #[tracing::instrument(skip_all)]
    pub async fn change_organization(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        changes: OrganizationChanges,
        preconditions: Preconditions,
    ) -> Result<OrganizationOutcome, AppError> {
        let (organization, version) = self
            .authorized_organization(who, id, Operation::ChangeOrganizationDetails)
            .await?;
        let target = Target::Organization(id);
        if changes.name.is_some() {
            who.require(
                Operation::RenameOrganization,
                target,
                Resource::Organization,
            )?;
        }
        if changes.status.is_some() {
            who.require(
                Operation::ChangeOrganizationStatus,
                target,
                Resource::Organization,
            )?;
        }
        if changes.partner.is_some() {
            who.require(
                Operation::ChangePartnerDetails,
                target,
                Resource::Organization,
            )?;
        }
        let now = chrono::Utc::now();
        let mut commands = Vec::new();
        if changes.name.is_some() || changes.display_name.is_some() {
            commands.push(OrganizationCommand::Rename {
                name: changes.name.unwrap_or_else(|| organization.name.clone()),
                display_name: changes
                    .display_name
                    .or_else(|| organization.display_name.clone()),
                at: now,
            });
        }
        if changes.contact_name.is_some()
            || changes.contact_email.is_some()
            || changes.contact_phone.is_some()
        {
            let current = &organization.contact;
            let contact = Contact {
                name: changes.contact_name.or_else(|| current.name.clone()),
                email: changes.contact_email.or_else(|| current.email.clone()),
                phone: changes.contact_phone.or_else(|| current.phone.clone()),
            };
            commands.push(OrganizationCommand::ChangeContact { contact, at: now });
        }
        if let Some(details) = changes.partner {
            commands.push(OrganizationCommand::SetPartnerDetails { details, at: now });
        }
        if let Some(status) = changes.status {
            commands.push(OrganizationCommand::ChangeStatus { status, at: now });
        }
        if commands.is_empty() {
            return Ok((OrganizationState::Present(organization), version, None));
        }
        // One append: every aspect changes, or none (a taken code leaves the name as it was).
        let command_context = CommandContext {
            data_subject: Some(id.to_string()),
            ..preconditions.context(who.acting(context))
        };
        let executed = self
            .commands
            .execute_on::<OrganizationAggregate>(
                &id.to_string(),
                OrganizationState::Present(organization),
                version,
                OrganizationCommand::Batch(commands),
                command_context,
            )
            .await?;
        Ok((executed.state, executed.stream_version, executed.position))
    }

    /// Changes a member's role or permissions (`None` keeps what they have).
    #[tracing::instrument(skip_all)]
    pub async fn change_member(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        user_id: UserId,
        change: MemberChange,
        preconditions: Preconditions,
    ) -> Result<OrganizationOutcome, AppError> {
        let (organization, person) = self
            .authorized_member(who, id, user_id, Operation::ChangeMember)
            .await?;
        let current = organization
            .members
            .get(&person.id)
            .ok_or(AppError::NotFound(Resource::Member))?;
        if let Some(permissions) = &change.permissions {
            // Flags the member holds already may stay though retired since; new ones must be
            // grantable.
            self.check_grantable(permissions.difference(&current.permissions))
                .await?;
        }
        let change = OrganizationCommand::ChangeMember {
            user_id: person.id,
            role: change.role.unwrap_or(current.role),
            permissions: change
                .permissions
                .unwrap_or_else(|| current.permissions.clone()),
            at: chrono::Utc::now(),
        };
        let command_context = CommandContext {
            data_subject: Some(id.to_string()),
            ..preconditions.context(who.metadata(context, person.id))
        };
        let executed = self
            .commands
            .execute::<OrganizationAggregate>(&id.to_string(), change, command_context)
            .await?;
        Ok((executed.state, executed.stream_version, executed.position))
    }

    /// Removes a member, then unlinks their user from the organization.
    #[tracing::instrument(skip_all)]
    pub async fn remove_member(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        user_id: UserId,
        preconditions: Preconditions,
    ) -> Result<OrganizationOutcome, AppError> {
        let (_, person) = self
            .authorized_member(who, id, user_id, Operation::RemoveMember)
            .await?;
        let user_id = person.id;
        let now = chrono::Utc::now();
        let metadata = who.metadata(context, user_id);
        let command_context = CommandContext {
            data_subject: Some(id.to_string()),
            ..preconditions.context(metadata.clone())
        };
        let executed = self
            .commands
            .execute::<OrganizationAggregate>(
                &id.to_string(),
                OrganizationCommand::RemoveMember { user_id, at: now },
                command_context,
            )
            .await?;
        let unlink = UserCommand::UnlinkOrganization {
            organization_id: id,
            at: now,
        };
        match self
            .commands
            .execute::<UserAggregate>(
                &user_id.to_string(),
                unlink,
                CommandContext {
                    metadata,
                    ..Default::default()
                },
            )
            .await
        {
            // A link left behind is harmless: readers confirm links against the organization.
            Ok(_) | Err(CommandError::Rejected(_)) => {}
            Err(error) => {
                tracing::warn!(%error, "unlinking a removed member failed; the link stays, unconfirmed")
            }
        }
        Ok((executed.state, executed.stream_version, executed.position))
    }
}

impl App {
    /// The organization whose partner code is `code`, if the policy lets `who` read it;
    /// "not found" when no organization has it or `who` may not see it.
    #[tracing::instrument(skip(self, who))]
    pub async fn partner(
        &self,
        who: &Authority,
        code: &str,
    ) -> Result<(Box<Organization>, u64), AppError> {
        let code =
            PartnerCode::parse(code).map_err(|_| AppError::NotFound(Resource::Organization))?;
        let owner = self
            .commands
            .find_owner(ClaimKind::PartnerCode, code.as_str())
            .await
            .map_err(AppError::internal)?
            .and_then(|stream| stream.parse::<OrganizationId>().ok())
            .ok_or(AppError::NotFound(Resource::Organization))?;
        self.authorized_organization(who, owner, Operation::ReadOrganization)
            .await
    }
}
