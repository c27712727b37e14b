//! Deciding what a command does to an organization.

use super::{OrganizationCommand, OrganizationError, OrganizationEvent, OrganizationState};

/// [`Aggregate::decide`](crate::Aggregate::decide) for organizations.
pub(super) fn decide(
    state: &OrganizationState,
    command: OrganizationCommand,
) -> Result<Vec<OrganizationEvent>, OrganizationError> {
    use OrganizationCommand as C;
    use OrganizationEvent as E;
    if let C::Batch(commands) = command {
        let mut state = state.clone();
        let mut events = Vec::new();
        for command in commands {
            let decided = decide(&state, command)?;
            state = decided.iter().fold(
                state,
                <super::OrganizationAggregate as crate::Aggregate>::evolve,
            );
            events.extend(decided);
        }
        return Ok(events);
    }
    let organization = match (state, command) {
        (
            OrganizationState::Absent,
            C::Create {
                organization_id,
                name,
                display_name,
                contact,
                status,
                partner,
                at,
            },
        ) => {
            return Ok(vec![E::OrganizationCreated {
                organization_id,
                name,
                display_name,
                contact,
                status,
                partner,
                at,
            }]);
        }
        (OrganizationState::Present(_), C::Create { .. }) => {
            return Err(OrganizationError::AlreadyExists);
        }
        (OrganizationState::Absent, _) => return Err(OrganizationError::NotFound),
        (OrganizationState::Present(organization), command) => (organization, command),
    };
    match organization {
        (
            org,
            C::Rename {
                name,
                display_name,
                at,
            },
        ) => {
            if name == org.name && display_name == org.display_name {
                return Ok(vec![]);
            }
            Ok(vec![E::OrganizationRenamed {
                old_name: org.name.clone(),
                name,
                display_name,
                at,
            }])
        }
        (org, C::ChangeContact { contact, at }) => {
            if contact == org.contact {
                return Ok(vec![]);
            }
            Ok(vec![E::OrganizationContactChanged { contact, at }])
        }
        (org, C::SetPartnerDetails { details, at }) => {
            if details == org.partner {
                return Ok(vec![]);
            }
            Ok(vec![E::PartnerDetailsChanged {
                old: org.partner.clone(),
                details,
                at,
            }])
        }
        (org, C::ChangeStatus { status, at }) => {
            if status == org.status {
                return Ok(vec![]);
            }
            Ok(vec![E::OrganizationStatusChanged {
                old_status: org.status,
                status,
                at,
            }])
        }
        (
            org,
            C::AddMember {
                user_id,
                role,
                permissions,
                at,
            },
        ) => {
            if org.members.contains_key(&user_id) {
                return Err(OrganizationError::AlreadyMember);
            }
            Ok(vec![E::MemberAdded {
                user_id,
                role,
                permissions,
                at,
            }])
        }
        (
            org,
            C::ChangeMember {
                user_id,
                role,
                permissions,
                at,
            },
        ) => {
            let member = org
                .members
                .get(&user_id)
                .ok_or(OrganizationError::NotAMember)?;
            if member.role == role && member.permissions == permissions {
                return Ok(vec![]);
            }
            Ok(vec![E::MemberChanged {
                user_id,
                role,
                permissions,
                at,
            }])
        }
        (org, C::RemoveMember { user_id, at }) => {
            if !org.members.contains_key(&user_id) {
                return Err(OrganizationError::NotAMember);
            }
            Ok(vec![E::MemberRemoved { user_id, at }])
        }
        (
            org,
            C::Invite {
                user_id,
                role,
                permissions,
                expires_at,
                at,
            },
        ) => {
            if org.members.contains_key(&user_id) {
                return Err(OrganizationError::AlreadyMember);
            }
            let mut events = Vec::new();
            match org.invitations.get(&user_id) {
                Some(pending) if pending.is_open(at) => {
                    return Err(OrganizationError::AlreadyInvited);
                }
                Some(_) => events.push(E::InvitationExpired { user_id, at }),
                None => {}
            }
            events.push(E::MemberInvited {
                user_id,
                role,
                permissions,
                expires_at,
                at,
            });
            Ok(events)
        }
        (
            org,
            C::AnswerInvitation {
                user_id,
                accept,
                at,
            },
        ) => {
            let invitation = org
                .invitations
                .get(&user_id)
                .ok_or(OrganizationError::NoInvitation)?;
            if !invitation.is_open(at) {
                // Recorded, and the answer comes too late: the caller sees no membership.
                return Ok(vec![E::InvitationExpired { user_id, at }]);
            }
            if !accept {
                return Ok(vec![E::InvitationDeclined { user_id, at }]);
            }
            Ok(vec![
                E::InvitationAccepted { user_id, at },
                E::MemberAdded {
                    user_id,
                    role: invitation.role,
                    permissions: invitation.permissions.clone(),
                    at,
                },
            ])
        }
        (org, C::RevokeInvitation { user_id, at }) => {
            if !org.invitations.contains_key(&user_id) {
                return Err(OrganizationError::NoInvitation);
            }
            Ok(vec![E::InvitationRevoked { user_id, at }])
        }
        (
            org,
            C::CreateApiKey {
                key_id,
                name,
                permissions,
                token_hash,
                expires_at,
                at,
            },
        ) => {
            if expires_at.is_some_and(|expiry| expiry <= at) {
                return Err(OrganizationError::ApiKeyExpiryPassed);
            }
            let in_use: Vec<_> = org
                .api_keys
                .values()
                .filter(|key| key.is_usable(at))
                .collect();
            if in_use.iter().any(|key| key.name == name) {
                return Err(OrganizationError::ApiKeyNameTaken);
            }
            if in_use.len() >= super::MAX_API_KEYS {
                return Err(OrganizationError::TooManyApiKeys);
            }
            Ok(vec![E::ApiKeyCreated {
                key_id,
                name,
                permissions,
                token_hash,
                expires_at,
                at,
            }])
        }
        (org, C::RevokeApiKey { key_id, at }) => {
            let key = org
                .api_keys
                .get(&key_id)
                .ok_or(OrganizationError::NoApiKey)?;
            if key.revoked_at.is_some() {
                return Ok(vec![]);
            }
            Ok(vec![E::ApiKeyRevoked { key_id, at }])
        }
        (_, C::Create { .. }) => Err(OrganizationError::AlreadyExists),
        // Decided command by command above.
        (org, C::Batch(commands)) => {
            decide(&OrganizationState::Present(org.clone()), C::Batch(commands))
        }
    }
}
