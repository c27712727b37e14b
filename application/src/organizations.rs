//! Organizations (partners) and their members.

use crate::{App, AppError};
use commands::CommandContext;
use domain::OrganizationId;
use domain::organization::{
    OrgRole, Organization, OrganizationAggregate, OrganizationCommand, OrganizationState,
};
use domain::user::{User, UserAggregate, UserCommand};
use domain::values::Permission;
use std::collections::BTreeSet;

/// What adding a member left: the organization, its stream version and the log position.
pub type AddedMember = (OrganizationState, u64, Option<u64>);

impl App {
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

    /// Adds `user` to an organization: links the user to it, then adds the membership (so a
    /// user's links are always a superset of their memberships). The caller authorized it.
    pub async fn add_member(
        &self,
        context: CommandContext,
        organization_id: OrganizationId,
        user: &User,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
    ) -> Result<AddedMember, AppError> {
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
