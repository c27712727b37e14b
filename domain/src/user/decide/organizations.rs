//! The user's side of organization memberships: an index of organizations to look in, kept
//! a superset of the memberships (the organization's stream says which are real).

use crate::user::{User, UserError, UserEvent};
use crate::values::OrganizationName;
use crate::{OrganizationId, Timestamp};

/// An organization is about to add the user as a member.
pub(super) fn link(
    user: &User,
    organization_id: OrganizationId,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if user.organizations.contains(&organization_id) {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::OrganizationLinked {
        organization_id,
        at,
    }])
}

/// An organization invited the user: linked as a membership would be, so that the person hears
/// of it and finds it among their invitations.
pub(super) fn note_invitation(
    organization_id: OrganizationId,
    organization_name: OrganizationName,
    expires_at: Timestamp,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    Ok(vec![UserEvent::InvitedToOrganization {
        organization_id,
        organization_name,
        expires_at,
        at,
    }])
}

/// An organization has removed the user.
pub(super) fn unlink(
    user: &User,
    organization_id: OrganizationId,
    at: Timestamp,
) -> Result<Vec<UserEvent>, UserError> {
    if !user.organizations.contains(&organization_id) {
        return Ok(vec![]);
    }
    Ok(vec![UserEvent::OrganizationUnlinked {
        organization_id,
        at,
    }])
}
