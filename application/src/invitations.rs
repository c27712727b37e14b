//! Invitations to organizations: joining takes the person's consent unless an administrator
//! adds them. An invitation links the person's stream to the organization (which tells them, by
//! email) and waits in the organization's stream for an answer, until it lapses.

use crate::accounts::NewAccount;
use crate::authority::Authority;
use crate::policy::{Operation, Refusal, Target};
use crate::{App, AppError, RequestContext, Resource};
use commands::{CommandContext, CommandError};
use domain::organization::{
    Invitation, OrgRole, Organization, OrganizationAggregate, OrganizationCommand,
    OrganizationError, OrganizationEvent, OrganizationState,
};
use domain::user::{User, UserAggregate, UserCommand, UserState, UserStatus};
use domain::values::{Email, Permission, Role};
use domain::{ClaimKind, OrganizationId, Timestamp, UserId};
use eventstore::{EventMetadata, IdempotencyKey};
use std::collections::BTreeSet;

/// What an invitation offers.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The role.
    pub role: OrgRole,
    /// The permission flags.
    pub permissions: BTreeSet<Permission>,
}

/// Whom to invite.
#[derive(Debug)]
pub enum Invitee {
    /// An existing user, by id as sent (`field` names where, for "no such user").
    User {
        /// The id as sent.
        id: String,
        /// Where it was sent.
        field: &'static str,
    },
    /// An email address; one with no account gets an account and a link to set its password.
    Email(Email),
}

/// An invitation as its organization lists it, with the invitee while they exist.
#[derive(Debug)]
pub struct ListedInvitation {
    /// The invitee.
    pub user_id: UserId,
    /// The invitee's account (gone once they were forgotten).
    pub user: Option<Box<User>>,
    /// The invitation.
    pub invitation: Invitation,
}

impl App {
    /// A user who exists and is not deleted, by the id as sent; "no such user" at `field`.
    pub async fn existing_user(
        &self,
        raw: &str,
        field: &'static str,
    ) -> Result<Box<User>, AppError> {
        let missing = || AppError::Unknown {
            field,
            resource: Resource::User,
        };
        let user_id: UserId = raw.parse().map_err(|_| missing())?;
        let loaded = self
            .commands
            .current::<UserAggregate>(&user_id.to_string())
            .await?;
        match loaded.state {
            UserState::Present(user) if user.status != UserStatus::Deleted => Ok(user),
            _ => Err(missing()),
        }
    }

    /// Invites `invitee` to organization `id` with `offer`: the invitee, the invitation and
    /// the log position.
    #[tracing::instrument(skip_all)]
    pub async fn invite_member(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        invitee: Invitee,
        offer: Offer,
    ) -> Result<(Box<User>, Invitation, Option<u64>), AppError> {
        let (organization, _) = self
            .authorized_organization(who, id, Operation::InviteMember)
            .await?;
        // Before anyone is created or told.
        self.check_grantable(&offer.permissions).await?;
        let metadata = who.acting(context);
        let user = match invitee {
            Invitee::User { id, field } => self.existing_user(&id, field).await?,
            Invitee::Email(email) => {
                who.require(
                    Operation::CreateUser,
                    Target::Organization(organization.id),
                    Resource::Anything,
                )
                .map_err(|error| match error {
                    // Who may not create accounts there may still invite existing users.
                    AppError::Refused {
                        refusal: Refusal::NotFound,
                        ..
                    } => AppError::Malformed("Invite an existing user by user_id."),
                    error => error,
                })?;
                self.user_for_invitation(metadata.clone(), email).await?
            }
        };
        let (invitation, position) = self.invite(metadata, &organization, &user, offer).await?;
        Ok((user, invitation, position))
    }

    /// Invites `user` to `organization`: links their stream (which tells them, by email), then
    /// records the invitation. The caller is authorized already.
    pub async fn invite(
        &self,
        metadata: EventMetadata,
        organization: &Organization,
        user: &User,
        offer: Offer,
    ) -> Result<(Invitation, Option<u64>), AppError> {
        let now = chrono::Utc::now();
        let refused = |error| AppError::Organization(CommandError::Rejected(error));
        self.check_grantable(&offer.permissions).await?;
        // Checked before the person is told; the organization's stream decides again below.
        if organization.members.contains_key(&user.id) {
            return Err(refused(OrganizationError::AlreadyMember));
        }
        if organization
            .invitations
            .get(&user.id)
            .is_some_and(|pending| pending.is_open(now))
        {
            return Err(refused(OrganizationError::AlreadyInvited));
        }
        let expires_at = now + self.auth.invitation_lifetime;
        let note = UserCommand::NoteInvitation {
            organization_id: organization.id,
            organization_name: organization.name.clone(),
            expires_at,
            at: now,
        };
        self.commands
            .execute::<UserAggregate>(
                &user.id.to_string(),
                note,
                CommandContext {
                    metadata: metadata.clone(),
                    ..Default::default()
                },
            )
            .await?;
        let command = OrganizationCommand::Invite {
            user_id: user.id,
            role: offer.role,
            permissions: offer.permissions,
            expires_at,
            at: now,
        };
        let executed = self
            .commands
            .execute::<OrganizationAggregate>(
                &organization.id.to_string(),
                command,
                CommandContext {
                    metadata,
                    data_subject: Some(organization.id.to_string()),
                    ..Default::default()
                },
            )
            .await?;
        let OrganizationState::Present(after) = &executed.state else {
            return Err(AppError::NotFound(Resource::Invitation));
        };
        let invitation = after
            .invitations
            .get(&user.id)
            .cloned()
            .ok_or(AppError::NotFound(Resource::Invitation))?;
        Ok((invitation, executed.position))
    }

    /// The user with `email`, or a new account for it (with an emailed link to set its
    /// password).
    pub(crate) async fn user_for_invitation(
        &self,
        metadata: EventMetadata,
        email: Email,
    ) -> Result<Box<User>, AppError> {
        let owner = self
            .commands
            .find_owner(ClaimKind::Email, email.as_str())
            .await
            .map_err(AppError::internal)?;
        if let Some(owner) = owner {
            return self.existing_user(&owner, "/email").await;
        }
        let creator = self.creator();
        let account = NewAccount {
            email,
            username: None,
            phone: None,
            first_name: None,
            last_name: None,
            roles: BTreeSet::from([Role::parse("user")?]),
            password: None,
            temporary_password: false,
        };
        let context = CommandContext {
            metadata,
            ..Default::default()
        };
        let executed = creator.create(account, context).await?;
        match executed.state {
            UserState::Present(user) => Ok(user),
            _ => Err(AppError::Unknown {
                field: "/email",
                resource: Resource::User,
            }),
        }
    }

    /// An organization's invitations waiting for an answer.
    #[tracing::instrument(skip_all)]
    pub async fn invitations(
        &self,
        who: &Authority,
        id: OrganizationId,
    ) -> Result<Vec<ListedInvitation>, AppError> {
        let (organization, _) = self
            .authorized_organization(who, id, Operation::ListInvitations)
            .await?;
        let now = chrono::Utc::now();
        let mut listed = Vec::new();
        for (user_id, invitation) in &organization.invitations {
            if !invitation.is_open(now) {
                continue;
            }
            let loaded = self
                .commands
                .current::<UserAggregate>(&user_id.to_string())
                .await?;
            listed.push(ListedInvitation {
                user_id: *user_id,
                user: match loaded.state {
                    UserState::Present(user) => Some(user),
                    _ => None,
                },
                invitation: invitation.clone(),
            });
        }
        Ok(listed)
    }

    /// Withdraws a pending invitation; answers the log position.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_invitation(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        user_id: UserId,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Option<u64>, AppError> {
        let (organization, _) = self
            .authorized_organization(who, id, Operation::RevokeInvitation)
            .await?;
        let metadata = who.metadata(context, user_id);
        let now = chrono::Utc::now();
        let executed = self
            .commands
            .execute::<OrganizationAggregate>(
                &organization.id.to_string(),
                OrganizationCommand::RevokeInvitation { user_id, at: now },
                CommandContext {
                    metadata: metadata.clone(),
                    idempotency,
                    data_subject: Some(organization.id.to_string()),
                    ..Default::default()
                },
            )
            .await?;
        self.unlink(metadata, organization.id, user_id, now).await;
        Ok(executed.position)
    }

    /// The invitations waiting for the caller's answer, with their organizations.
    #[tracing::instrument(skip_all)]
    pub async fn own_invitations(
        &self,
        who: &Authority,
    ) -> Result<Vec<(Box<Organization>, Invitation)>, AppError> {
        let caller = who.caller().ok_or(AppError::InvalidToken)?;
        let person = who.person(self, &caller.user).await?;
        who.require(
            Operation::ListOwnInvitations,
            Target::Person(&person),
            Resource::Invitation,
        )?;
        let now = chrono::Utc::now();
        let mut open = Vec::new();
        for id in &caller.user.organizations {
            let Some((organization, _)) = self.organization(*id).await? else {
                continue;
            };
            if let Some(invitation) = organization
                .invitations
                .get(&caller.user.id)
                .filter(|invitation| invitation.is_open(now))
                .cloned()
            {
                open.push((organization, invitation));
            }
        }
        Ok(open)
    }

    /// Accepts (the caller becomes a member with the role offered) or declines an invitation;
    /// answers the log position. A lapsed invitation is [`AppError::InvitationLapsed`].
    #[tracing::instrument(skip_all)]
    pub async fn answer_invitation(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        accept: bool,
    ) -> Result<Option<u64>, AppError> {
        let caller = who.caller().ok_or(AppError::InvalidToken)?;
        let person = who.person(self, &caller.user).await?;
        who.require(
            Operation::AnswerInvitation,
            Target::Person(&person),
            Resource::Invitation,
        )?;
        // Only organizations that linked the caller can have invited them.
        if !caller.user.organizations.contains(&id) {
            return Err(AppError::NotFound(Resource::Invitation));
        }
        let metadata = who.metadata(context, caller.user.id);
        let now = chrono::Utc::now();
        let executed = self
            .commands
            .execute::<OrganizationAggregate>(
                &id.to_string(),
                OrganizationCommand::AnswerInvitation {
                    user_id: caller.user.id,
                    accept,
                    at: now,
                },
                CommandContext {
                    metadata: metadata.clone(),
                    data_subject: Some(id.to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| match error {
                CommandError::Rejected(OrganizationError::NotFound) => {
                    AppError::NotFound(Resource::Invitation)
                }
                error => error.into(),
            })?;
        let lapsed = !executed.events.is_empty()
            && executed
                .events
                .iter()
                .all(|event| matches!(event, OrganizationEvent::InvitationExpired { .. }));
        if lapsed || !accept {
            self.unlink(metadata, id, caller.user.id, now).await;
        }
        if lapsed {
            return Err(AppError::InvitationLapsed);
        }
        Ok(executed.position)
    }

    /// Drops a person's link to an organization they did not join. A link left behind is
    /// harmless: readers confirm links against the organization.
    async fn unlink(
        &self,
        metadata: EventMetadata,
        organization_id: OrganizationId,
        user_id: UserId,
        at: Timestamp,
    ) {
        let unlink = UserCommand::UnlinkOrganization {
            organization_id,
            at,
        };
        let context = CommandContext {
            metadata,
            ..Default::default()
        };
        if let Err(error) = self
            .commands
            .execute::<UserAggregate>(&user_id.to_string(), unlink, context)
            .await
        {
            tracing::warn!(%error, "unlinking an invitee failed; the link stays, unconfirmed");
        }
    }
}
