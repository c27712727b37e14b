//! The Organization (partner) aggregate: identity, contact, status and members.

use crate::values::{DisplayName, Email, OrganizationName, Permission, PersonName, PhoneNumber};
use crate::{Aggregate, ClaimChange, ClaimKind, DomainEvent, OrganizationId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Whether an organization is in business.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrganizationStatus {
    /// Members may log in.
    Active,
    /// Members may not log in.
    Inactive,
    /// Trying idlog out; members may log in.
    Testing,
    /// Suspended; members may not log in.
    Suspended,
}

impl OrganizationStatus {
    /// Whether members of an organization in this status may log in.
    pub fn allows_login(self) -> bool {
        matches!(self, Self::Active | Self::Testing)
    }
}

/// A member's role within an organization.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrgRole {
    /// Manages the members of the organization.
    OrgAdmin,
    /// An ordinary member.
    Member,
    /// May only read.
    Readonly,
}

/// An organization's contact person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Contact {
    /// Contact name.
    pub name: Option<PersonName>,
    /// Contact email.
    pub email: Option<Email>,
    /// Contact phone.
    pub phone: Option<PhoneNumber>,
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The role within the organization.
    pub role: OrgRole,
    /// Named permission flags.
    pub permissions: BTreeSet<Permission>,
    /// When the user joined.
    pub since: Timestamp,
}

/// An offer to join an organization, waiting for the person's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The role they would have.
    pub role: OrgRole,
    /// The permission flags they would have.
    pub permissions: BTreeSet<Permission>,
    /// When it was made.
    pub invited_at: Timestamp,
    /// When it lapses unanswered.
    pub expires_at: Timestamp,
}

impl Invitation {
    /// Whether it can still be answered at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        at < self.expires_at
    }
}

/// An organization as folded from its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Unique name.
    pub name: OrganizationName,
    /// Name to show.
    pub display_name: Option<DisplayName>,
    /// Contact person.
    pub contact: Contact,
    /// Status.
    pub status: OrganizationStatus,
    /// Members by user.
    pub members: BTreeMap<UserId, Membership>,
    /// Invitations not yet answered, revoked or recorded as expired, by invitee.
    pub invitations: BTreeMap<UserId, Invitation>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// The state of an organization stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OrganizationState {
    /// No such organization.
    #[default]
    Absent,
    /// The organization.
    Present(Box<Organization>),
}

/// What can be asked of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationCommand {
    /// Creates the organization.
    Create {
        /// A fresh id.
        organization_id: OrganizationId,
        /// Unique name.
        name: OrganizationName,
        /// Name to show.
        display_name: Option<DisplayName>,
        /// Contact person.
        contact: Contact,
        /// Initial status.
        status: OrganizationStatus,
        /// When.
        at: Timestamp,
    },
    /// Renames it.
    Rename {
        /// New unique name.
        name: OrganizationName,
        /// New display name.
        display_name: Option<DisplayName>,
        /// When.
        at: Timestamp,
    },
    /// Replaces the contact person.
    ChangeContact {
        /// The contact.
        contact: Contact,
        /// When.
        at: Timestamp,
    },
    /// Changes the status.
    ChangeStatus {
        /// The status.
        status: OrganizationStatus,
        /// When.
        at: Timestamp,
    },
    /// Adds a member.
    AddMember {
        /// The user.
        user_id: UserId,
        /// Their role.
        role: OrgRole,
        /// Their permission flags.
        permissions: BTreeSet<Permission>,
        /// When.
        at: Timestamp,
    },
    /// Changes a member's role or permissions.
    ChangeMember {
        /// The member.
        user_id: UserId,
        /// New role.
        role: OrgRole,
        /// New permission flags.
        permissions: BTreeSet<Permission>,
        /// When.
        at: Timestamp,
    },
    /// Removes a member.
    RemoveMember {
        /// The member.
        user_id: UserId,
        /// When.
        at: Timestamp,
    },
    /// Invites a person to join; they become a member only when they accept.
    Invite {
        /// The person.
        user_id: UserId,
        /// Their role once they accept.
        role: OrgRole,
        /// Their permission flags once they accept.
        permissions: BTreeSet<Permission>,
        /// When the invitation lapses.
        expires_at: Timestamp,
        /// When.
        at: Timestamp,
    },
    /// The person's answer to their invitation.
    AnswerInvitation {
        /// The person.
        user_id: UserId,
        /// Yes or no.
        accept: bool,
        /// When.
        at: Timestamp,
    },
    /// Withdraws a pending invitation.
    RevokeInvitation {
        /// The person.
        user_id: UserId,
        /// When.
        at: Timestamp,
    },
}

/// What happened to an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum OrganizationEvent {
    /// The organization was created.
    OrganizationCreated {
        organization_id: OrganizationId,
        name: OrganizationName,
        display_name: Option<DisplayName>,
        contact: Contact,
        status: OrganizationStatus,
        at: Timestamp,
    },
    /// It was renamed.
    OrganizationRenamed {
        old_name: OrganizationName,
        name: OrganizationName,
        display_name: Option<DisplayName>,
        at: Timestamp,
    },
    /// Its contact changed.
    OrganizationContactChanged { contact: Contact, at: Timestamp },
    /// Its status changed.
    OrganizationStatusChanged {
        old_status: OrganizationStatus,
        status: OrganizationStatus,
        at: Timestamp,
    },
    /// A member was added.
    MemberAdded {
        user_id: UserId,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
        at: Timestamp,
    },
    /// A member's role or permissions changed.
    MemberChanged {
        user_id: UserId,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
        at: Timestamp,
    },
    /// A member was removed.
    MemberRemoved { user_id: UserId, at: Timestamp },
    /// A person was invited to join.
    MemberInvited {
        user_id: UserId,
        role: OrgRole,
        permissions: BTreeSet<Permission>,
        expires_at: Timestamp,
        at: Timestamp,
    },
    /// The person accepted (a `MemberAdded` follows).
    InvitationAccepted { user_id: UserId, at: Timestamp },
    /// The person declined.
    InvitationDeclined { user_id: UserId, at: Timestamp },
    /// The organization withdrew it.
    InvitationRevoked { user_id: UserId, at: Timestamp },
    /// It lapsed unanswered (recorded when someone next touched it).
    InvitationExpired { user_id: UserId, at: Timestamp },
}

impl DomainEvent for OrganizationEvent {
    fn event_type(&self) -> &'static str {
        self.into()
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::OrganizationCreated { .. } | Self::OrganizationContactChanged { .. } => {
                &["/contact"]
            }
            Self::OrganizationRenamed { .. }
            | Self::OrganizationStatusChanged { .. }
            | Self::MemberAdded { .. }
            | Self::MemberChanged { .. }
            | Self::MemberRemoved { .. }
            | Self::MemberInvited { .. }
            | Self::InvitationAccepted { .. }
            | Self::InvitationDeclined { .. }
            | Self::InvitationRevoked { .. }
            | Self::InvitationExpired { .. } => &[],
        }
    }
}

/// Why an organization command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationError {
    /// Create on an existing stream.
    #[error("the organization already exists")]
    AlreadyExists,
    /// No such organization.
    #[error("no such organization")]
    NotFound,
    /// The user is a member already.
    #[error("the user is already a member")]
    AlreadyMember,
    /// The user is not a member.
    #[error("the user is not a member")]
    NotAMember,
    /// An invitation to the person is already waiting for their answer.
    #[error("an invitation is already waiting for this person's answer")]
    AlreadyInvited,
    /// No invitation waits for this person.
    #[error("no pending invitation")]
    NoInvitation,
}

/// The Organization aggregate.
#[derive(Debug, Clone, Copy)]
pub struct OrganizationAggregate;

impl Aggregate for OrganizationAggregate {
    const STREAM_TYPE: &'static str = "organization";
    type State = OrganizationState;
    type Command = OrganizationCommand;
    type Event = OrganizationEvent;
    type Error = OrganizationError;

    fn decide(
        state: &OrganizationState,
        command: OrganizationCommand,
    ) -> Result<Vec<OrganizationEvent>, OrganizationError> {
        use OrganizationCommand as C;
        use OrganizationEvent as E;
        let organization = match (state, command) {
            (
                OrganizationState::Absent,
                C::Create {
                    organization_id,
                    name,
                    display_name,
                    contact,
                    status,
                    at,
                },
            ) => {
                return Ok(vec![E::OrganizationCreated {
                    organization_id,
                    name,
                    display_name,
                    contact,
                    status,
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
            (_, C::Create { .. }) => Err(OrganizationError::AlreadyExists),
        }
    }

    fn evolve(state: OrganizationState, event: &OrganizationEvent) -> OrganizationState {
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
                }
                OrganizationState::Present(org)
            }
            (OrganizationState::Absent, _) => OrganizationState::Absent,
        }
    }

    fn claims(_state: &OrganizationState, events: &[OrganizationEvent]) -> Vec<ClaimChange> {
        let normalized = |name: &OrganizationName| name.as_str().to_lowercase();
        events
            .iter()
            .flat_map(|event| match event {
                OrganizationEvent::OrganizationCreated { name, .. } => {
                    vec![ClaimChange::take(
                        ClaimKind::OrganizationName,
                        normalized(name),
                    )]
                }
                OrganizationEvent::OrganizationRenamed { old_name, name, .. }
                    if normalized(old_name) != normalized(name) =>
                {
                    vec![
                        ClaimChange::release(ClaimKind::OrganizationName, normalized(old_name)),
                        ClaimChange::take(ClaimKind::OrganizationName, normalized(name)),
                    ]
                }
                _ => vec![],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use chrono::TimeZone;

    fn at(minute: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("valid time")
            + crate::Duration::minutes(minute.into())
    }
    fn org_id() -> OrganizationId {
        OrganizationId::from_uuid(uuid::Uuid::from_u128(0x10))
    }
    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }
    fn name(raw: &str) -> OrganizationName {
        OrganizationName::parse(raw).expect("valid name")
    }
    fn perms(names: &[&str]) -> BTreeSet<Permission> {
        names
            .iter()
            .map(|n| Permission::parse(n).expect("valid permission"))
            .collect()
    }
    fn created() -> OrganizationEvent {
        OrganizationEvent::OrganizationCreated {
            organization_id: org_id(),
            name: name("Acme"),
            display_name: None,
            contact: Contact::default(),
            status: OrganizationStatus::Active,
            at: at(0),
        }
    }
    fn member_added(n: u128) -> OrganizationEvent {
        OrganizationEvent::MemberAdded {
            user_id: user(n),
            role: OrgRole::Member,
            permissions: perms(&[]),
            at: at(1),
        }
    }

    #[test]
    fn creates_an_organization_and_claims_its_name() {
        let command = OrganizationCommand::Create {
            organization_id: org_id(),
            name: name("Acme"),
            display_name: None,
            contact: Contact::default(),
            status: OrganizationStatus::Active,
            at: at(0),
        };
        given::<OrganizationAggregate>([])
            .when(command)
            .then([created()]);
        let claims = OrganizationAggregate::claims(&OrganizationState::Absent, &[created()]);
        assert_eq!(
            claims,
            vec![ClaimChange::take(ClaimKind::OrganizationName, "acme")]
        );
    }

    #[test]
    fn refuses_to_create_an_organization_twice() {
        let command = OrganizationCommand::Create {
            organization_id: org_id(),
            name: name("Other"),
            display_name: None,
            contact: Contact::default(),
            status: OrganizationStatus::Testing,
            at: at(2),
        };
        given::<OrganizationAggregate>([created()])
            .when(command)
            .then_err(OrganizationError::AlreadyExists);
    }

    #[test]
    fn refuses_commands_for_an_unknown_organization() {
        given::<OrganizationAggregate>([])
            .when(OrganizationCommand::ChangeStatus {
                status: OrganizationStatus::Suspended,
                at: at(1),
            })
            .then_err(OrganizationError::NotFound);
    }

    #[test]
    fn renaming_releases_the_old_name_and_claims_the_new_one() {
        let state = given::<OrganizationAggregate>([created()]).when(OrganizationCommand::Rename {
            name: name("Acme Labs"),
            display_name: Some(DisplayName::parse("ACME Laboratories").expect("valid")),
            at: at(3),
        });
        let events = state.outcome().expect("accepted");
        assert_eq!(
            OrganizationAggregate::claims(&OrganizationState::Absent, &events),
            vec![
                ClaimChange::release(ClaimKind::OrganizationName, "acme"),
                ClaimChange::take(ClaimKind::OrganizationName, "acme labs"),
            ]
        );
    }

    #[test]
    fn changes_the_contact_person() {
        let contact = Contact {
            name: Some(PersonName::parse("Ann Lee").expect("valid")),
            email: Some(Email::parse("ann@acme.test").expect("valid")),
            phone: None,
        };
        given::<OrganizationAggregate>([created()])
            .when(OrganizationCommand::ChangeContact {
                contact: contact.clone(),
                at: at(4),
            })
            .then([OrganizationEvent::OrganizationContactChanged { contact, at: at(4) }]);
    }

    #[test]
    fn suspending_an_organization_stops_its_members_logging_in() {
        let state = given::<OrganizationAggregate>([created()])
            .when(OrganizationCommand::ChangeStatus {
                status: OrganizationStatus::Suspended,
                at: at(5),
            })
            .then([OrganizationEvent::OrganizationStatusChanged {
                old_status: OrganizationStatus::Active,
                status: OrganizationStatus::Suspended,
                at: at(5),
            }]);
        let OrganizationState::Present(org) = state else {
            panic!("organization exists")
        };
        assert!(!org.status.allows_login());
        assert!(OrganizationStatus::Testing.allows_login());
    }

    #[test]
    fn setting_the_same_status_changes_nothing() {
        given::<OrganizationAggregate>([created()])
            .when(OrganizationCommand::ChangeStatus {
                status: OrganizationStatus::Active,
                at: at(5),
            })
            .then([]);
    }

    #[test]
    fn adds_a_member_with_a_role_and_permissions() {
        let state = given::<OrganizationAggregate>([created()])
            .when(OrganizationCommand::AddMember {
                user_id: user(1),
                role: OrgRole::OrgAdmin,
                permissions: perms(&["can_view_reports"]),
                at: at(6),
            })
            .then([OrganizationEvent::MemberAdded {
                user_id: user(1),
                role: OrgRole::OrgAdmin,
                permissions: perms(&["can_view_reports"]),
                at: at(6),
            }]);
        let OrganizationState::Present(org) = state else {
            panic!("organization exists")
        };
        assert_eq!(org.members[&user(1)].role, OrgRole::OrgAdmin);
    }

    #[test]
    fn refuses_to_add_a_member_twice() {
        given::<OrganizationAggregate>([created(), member_added(1)])
            .when(OrganizationCommand::AddMember {
                user_id: user(1),
                role: OrgRole::Readonly,
                permissions: perms(&[]),
                at: at(7),
            })
            .then_err(OrganizationError::AlreadyMember);
    }

    #[test]
    fn changes_a_members_role_and_permissions() {
        given::<OrganizationAggregate>([created(), member_added(1)])
            .when(OrganizationCommand::ChangeMember {
                user_id: user(1),
                role: OrgRole::Readonly,
                permissions: perms(&["can_upload_files"]),
                at: at(8),
            })
            .then([OrganizationEvent::MemberChanged {
                user_id: user(1),
                role: OrgRole::Readonly,
                permissions: perms(&["can_upload_files"]),
                at: at(8),
            }]);
    }

    #[test]
    fn refuses_to_change_or_remove_someone_who_is_not_a_member() {
        given::<OrganizationAggregate>([created()])
            .when(OrganizationCommand::ChangeMember {
                user_id: user(2),
                role: OrgRole::Member,
                permissions: perms(&[]),
                at: at(8),
            })
            .then_err(OrganizationError::NotAMember);
        given::<OrganizationAggregate>([created()])
            .when(OrganizationCommand::RemoveMember {
                user_id: user(2),
                at: at(8),
            })
            .then_err(OrganizationError::NotAMember);
    }

    #[test]
    fn removes_a_member() {
        let state = given::<OrganizationAggregate>([created(), member_added(1)])
            .when(OrganizationCommand::RemoveMember {
                user_id: user(1),
                at: at(9),
            })
            .then([OrganizationEvent::MemberRemoved {
                user_id: user(1),
                at: at(9),
            }]);
        let OrganizationState::Present(org) = state else {
            panic!("organization exists")
        };
        assert!(org.members.is_empty());
    }

    fn invited(n: u128, minute: u32) -> OrganizationEvent {
        OrganizationEvent::MemberInvited {
            user_id: user(n),
            role: OrgRole::Member,
            permissions: perms(&["can_view_reports"]),
            expires_at: at(minute + 60),
            at: at(minute),
        }
    }

    fn invite(n: u128, minute: u32) -> OrganizationCommand {
        OrganizationCommand::Invite {
            user_id: user(n),
            role: OrgRole::Member,
            permissions: perms(&["can_view_reports"]),
            expires_at: at(minute + 60),
            at: at(minute),
        }
    }

    fn answer(n: u128, accept: bool, minute: u32) -> OrganizationCommand {
        OrganizationCommand::AnswerInvitation {
            user_id: user(n),
            accept,
            at: at(minute),
        }
    }

    #[test]
    fn inviting_someone_does_not_make_them_a_member() {
        let state = given::<OrganizationAggregate>([created()])
            .when(invite(1, 10))
            .then([invited(1, 10)]);
        let OrganizationState::Present(org) = state else {
            panic!("organization exists")
        };
        assert!(org.members.is_empty());
        assert!(org.invitations.contains_key(&user(1)));
    }

    #[test]
    fn accepting_an_invitation_adds_the_member_with_the_offered_role() {
        let state = given::<OrganizationAggregate>([created(), invited(1, 10)])
            .when(answer(1, true, 20))
            .then([
                OrganizationEvent::InvitationAccepted {
                    user_id: user(1),
                    at: at(20),
                },
                OrganizationEvent::MemberAdded {
                    user_id: user(1),
                    role: OrgRole::Member,
                    permissions: perms(&["can_view_reports"]),
                    at: at(20),
                },
            ]);
        let OrganizationState::Present(org) = state else {
            panic!("organization exists")
        };
        assert!(org.invitations.is_empty());
        assert_eq!(org.members[&user(1)].role, OrgRole::Member);
    }

    #[test]
    fn declining_an_invitation_leaves_no_membership() {
        let state = given::<OrganizationAggregate>([created(), invited(1, 10)])
            .when(answer(1, false, 20))
            .then([OrganizationEvent::InvitationDeclined {
                user_id: user(1),
                at: at(20),
            }]);
        let OrganizationState::Present(org) = state else {
            panic!("organization exists")
        };
        assert!(org.invitations.is_empty() && org.members.is_empty());
    }

    #[test]
    fn an_answer_after_the_invitation_lapsed_records_its_expiry_and_adds_no_one() {
        given::<OrganizationAggregate>([created(), invited(1, 10)])
            .when(answer(1, true, 70))
            .then([OrganizationEvent::InvitationExpired {
                user_id: user(1),
                at: at(70),
            }]);
    }

    #[test]
    fn a_revoked_invitation_can_no_longer_be_accepted() {
        given::<OrganizationAggregate>([
            created(),
            invited(1, 10),
            OrganizationEvent::InvitationRevoked {
                user_id: user(1),
                at: at(11),
            },
        ])
        .when(answer(1, true, 12))
        .then_err(OrganizationError::NoInvitation);
    }

    #[test]
    fn refuses_a_second_invitation_while_one_waits_but_replaces_a_lapsed_one() {
        given::<OrganizationAggregate>([created(), invited(1, 10)])
            .when(invite(1, 20))
            .then_err(OrganizationError::AlreadyInvited);
        given::<OrganizationAggregate>([created(), invited(1, 10)])
            .when(invite(1, 80))
            .then([
                OrganizationEvent::InvitationExpired {
                    user_id: user(1),
                    at: at(80),
                },
                invited(1, 80),
            ]);
    }

    #[test]
    fn refuses_to_invite_a_member() {
        given::<OrganizationAggregate>([created(), member_added(1)])
            .when(invite(1, 10))
            .then_err(OrganizationError::AlreadyMember);
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        for event in [created(), member_added(3), invited(4, 1)] {
            let payload = event.to_payload().expect("serializes");
            let back =
                OrganizationEvent::from_payload(event.event_type(), payload).expect("parses");
            assert_eq!(back, event);
        }
    }
}
