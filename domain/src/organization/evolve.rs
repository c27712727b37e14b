//! Folding an organization's events into its state.

use super::{ApiKey, Invitation, Membership, Organization, OrganizationEvent, OrganizationState};
use std::collections::BTreeMap;

/// [`Aggregate::evolve`](crate::Aggregate::evolve) for organizations.
pub(super) fn evolve(state: OrganizationState, event: &OrganizationEvent) -> OrganizationState {
    use OrganizationEvent as E;
    match (state, event) {
        (
            OrganizationState::Absent,
            E::OrganizationCreated {
                organization_id,
                name,
                display_name,
                contact,
                status,
                partner,
                at,
            },
        ) => OrganizationState::Present(Box::new(Organization {
            id: *organization_id,
            name: name.clone(),
            display_name: display_name.clone(),
            contact: contact.clone(),
            status: *status,
            members: BTreeMap::new(),
            invitations: BTreeMap::new(),
            partner: partner.clone(),
            api_keys: BTreeMap::new(),
            created_at: *at,
        })),
        (OrganizationState::Present(mut org), event) => {
            match event {
                E::OrganizationCreated { .. } => {}
                E::OrganizationRenamed {
                    name, display_name, ..
                } => {
                    org.name = name.clone();
                    org.display_name = display_name.clone();
                }
                E::OrganizationContactChanged { contact, .. } => org.contact = contact.clone(),
                E::PartnerDetailsChanged { details, .. } => org.partner = details.clone(),
                E::OrganizationStatusChanged { status, .. } => org.status = *status,
                E::MemberAdded {
                    user_id,
                    role,
                    permissions,
                    at,
                } => {
                    org.members.insert(
                        *user_id,
                        Membership {
                            role: *role,
                            permissions: permissions.clone(),
                            since: *at,
                        },
                    );
                }
                E::MemberChanged {
                    user_id,
                    role,
                    permissions,
                    ..
                } => {
                    if let Some(member) = org.members.get_mut(user_id) {
                        member.role = *role;
                        member.permissions = permissions.clone();
                    }
                }
                E::MemberRemoved { user_id, .. } => {
                    org.members.remove(user_id);
                }
                E::MemberInvited {
                    user_id,
                    role,
                    permissions,
                    expires_at,
                    at,
                } => {
                    org.invitations.insert(
                        *user_id,
                        Invitation {
                            role: *role,
                            permissions: permissions.clone(),
                            invited_at: *at,
                            expires_at: *expires_at,
                        },
                    );
                }
                E::InvitationAccepted { user_id, .. }
                | E::InvitationDeclined { user_id, .. }
                | E::InvitationRevoked { user_id, .. }
                | E::InvitationExpired { user_id, .. } => {
                    org.invitations.remove(user_id);
                }
                E::ApiKeyCreated {
                    key_id,
                    name,
                    permissions,
                    token_hash,
                    expires_at,
                    at,
                } => {
                    org.api_keys.insert(
                        *key_id,
                        ApiKey {
                            id: *key_id,
                            name: name.clone(),
                            permissions: permissions.clone(),
                            token_hash: *token_hash,
                            expires_at: *expires_at,
                            created_at: *at,
                            revoked_at: None,
                        },
                    );
                }
                E::ApiKeyRevoked { key_id, at } => {
                    if let Some(key) = org.api_keys.get_mut(key_id) {
                        key.revoked_at = Some(*at);
                    }
                }
            }
            OrganizationState::Present(org)
        }
        (OrganizationState::Absent, _) => OrganizationState::Absent,
    }
}
