//! Given/when/then for the Organization aggregate.

use super::*;
use crate::testing::given;
use crate::values::{DisplayName, Email, OrganizationName, Permission, PersonName};
use crate::{ClaimKind, DomainEvent, OrganizationId, Timestamp, UserId};
use chrono::TimeZone;
use std::collections::BTreeSet;

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
        partner: None,
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
        partner: None,
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
        partner: None,
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
        let back = OrganizationEvent::from_payload(event.event_type(), payload).expect("parses");
        assert_eq!(back, event);
    }
}

#[test]
fn every_event_type_is_the_name_its_events_are_stored_and_read_by() {
    crate::testing::assert_event_type_names::<OrganizationEvent, _>(OrganizationEventType::as_str);
    for event in [created(), member_added(3), invited(4, 1)] {
        let event_type = OrganizationEventType::from(&event);
        assert_eq!(event_type.as_str(), event.event_type());
        assert_eq!(
            serde_json::to_value(&event).expect("serializes")["type"],
            event_type.as_str()
        );
    }
}

fn partner(code: &str, sender: &str, receiver: &str) -> PartnerDetails {
    PartnerDetails {
        code: crate::values::PartnerCode::parse(code).expect("code"),
        communication: CommunicationMethod::Sftp,
        edi_format: EdiFormat::X12,
        sender_id: crate::values::EdiId::parse(sender).expect("sender"),
        receiver_id: crate::values::EdiId::parse(receiver).expect("receiver"),
    }
}

#[test]
fn partner_details_are_set_changed_and_removed_claiming_the_code_and_the_pair() {
    let acme = partner("acme001", "ACMESEND", "IDLOGRECV");
    let set = OrganizationEvent::PartnerDetailsChanged {
        old: None,
        details: Some(acme.clone()),
        at: at(2),
    };
    given::<OrganizationAggregate>([created()])
        .when(OrganizationCommand::SetPartnerDetails {
            details: Some(acme.clone()),
            at: at(2),
        })
        .then([set.clone()]);
    // The code is kept upper case; setting the same details again changes nothing.
    assert_eq!(acme.code.as_str(), "ACME001");
    given::<OrganizationAggregate>([created(), set.clone()])
        .when(OrganizationCommand::SetPartnerDetails {
            details: Some(acme.clone()),
            at: at(3),
        })
        .then([]);
    let state = OrganizationState::Absent;
    assert_eq!(
        OrganizationAggregate::claims(&state, &[set]),
        vec![
            ClaimChange::take(ClaimKind::PartnerCode, "ACME001"),
            ClaimChange::take(ClaimKind::InterchangePair, "ACMESEND IDLOGRECV"),
        ]
    );
    // A new receiver id moves the pair's claim and keeps the code's.
    let moved = OrganizationEvent::PartnerDetailsChanged {
        old: Some(acme.clone()),
        details: Some(partner("ACME001", "ACMESEND", "OTHER")),
        at: at(4),
    };
    assert_eq!(
        OrganizationAggregate::claims(&state, &[moved]),
        vec![
            ClaimChange::release(ClaimKind::InterchangePair, "ACMESEND IDLOGRECV"),
            ClaimChange::take(ClaimKind::InterchangePair, "ACMESEND OTHER"),
        ]
    );
    // Removed, both are released.
    let removed = OrganizationEvent::PartnerDetailsChanged {
        old: Some(acme),
        details: None,
        at: at(5),
    };
    assert_eq!(
        OrganizationAggregate::claims(&state, &[removed]),
        vec![
            ClaimChange::release(ClaimKind::PartnerCode, "ACME001"),
            ClaimChange::release(ClaimKind::InterchangePair, "ACMESEND IDLOGRECV"),
        ]
    );
}

#[test]
fn partner_codes_and_interchange_ids_are_short_plain_codes() {
    use crate::values::{EdiId, PartnerCode};
    assert_eq!(
        PartnerCode::parse(" acme-01 ").expect("code").as_str(),
        "ACME-01"
    );
    for bad in ["", "ACME 01", "ACMÉ", &"A".repeat(33), "a/b"] {
        assert!(PartnerCode::parse(bad).is_err(), "{bad:?}");
    }
    assert!(EdiId::parse(&"9".repeat(35)).is_ok());
    assert!(EdiId::parse(&"9".repeat(36)).is_err());
    assert_eq!(
        serde_json::to_value(EdiFormat::Edifact).expect("json"),
        "EDIFACT"
    );
    assert_eq!(
        serde_json::to_value(CommunicationMethod::Both).expect("json"),
        "both"
    );
}

#[test]
fn a_batch_is_decided_in_order_and_refused_whole() {
    let rename = OrganizationCommand::Rename {
        name: name("Acme Labs"),
        display_name: None,
        at: at(2),
    };
    let partner = partner("ACME001", "ACMESEND", "IDLOGRECV");
    let events = given::<OrganizationAggregate>([created()])
        .when(OrganizationCommand::Batch(vec![
            rename.clone(),
            OrganizationCommand::SetPartnerDetails {
                details: Some(partner.clone()),
                at: at(2),
            },
        ]))
        .outcome()
        .expect("decided");
    assert_eq!(events.len(), 2);
    // One refusal refuses all: nothing of the rename is decided.
    given::<OrganizationAggregate>([created()])
        .when(OrganizationCommand::Batch(vec![
            rename,
            OrganizationCommand::RevokeInvitation {
                user_id: user(9),
                at: at(2),
            },
        ]))
        .then_err(OrganizationError::NoInvitation);
}

fn key_id(n: u128) -> crate::ApiKeyId {
    crate::ApiKeyId::from_uuid(uuid::Uuid::from_u128(0x4B00 + n))
}
fn create_key(
    n: u128,
    key_name: &str,
    expires_at: Option<Timestamp>,
    at: Timestamp,
) -> OrganizationCommand {
    OrganizationCommand::CreateApiKey {
        key_id: key_id(n),
        name: crate::values::KeyName::parse(key_name).expect("valid key name"),
        permissions: perms(&["can_upload_files"]),
        token_hash: crate::values::TokenHash::from_bytes([n as u8; 32]),
        expires_at,
        at,
    }
}
fn key_created(n: u128, key_name: &str, expires_at: Option<Timestamp>) -> OrganizationEvent {
    let OrganizationCommand::CreateApiKey {
        key_id,
        name,
        permissions,
        token_hash,
        expires_at,
        at,
    } = create_key(n, key_name, expires_at, at(1))
    else {
        unreachable!("create_key makes a CreateApiKey")
    };
    OrganizationEvent::ApiKeyCreated {
        key_id,
        name,
        permissions,
        token_hash,
        expires_at,
        at,
    }
}

#[test]
fn an_api_key_is_created_usable_until_it_expires_and_claims_nothing() {
    let command = create_key(1, "nightly import", Some(at(60)), at(1));
    let event = key_created(1, "nightly import", Some(at(60)));
    let state = given::<OrganizationAggregate>([created()])
        .when(command)
        .then([event.clone()]);
    let OrganizationState::Present(org) = &state else {
        panic!("organization exists")
    };
    let key = &org.api_keys[&key_id(1)];
    assert!(key.is_usable(at(59)));
    assert!(!key.is_usable(at(60)), "expired at its expiry");
    assert!(OrganizationAggregate::claims(&state, std::slice::from_ref(&event)).is_empty());
    // The secret's hash never reaches readers of the activity log.
    let payload = serde_json::to_value(&event).expect("serializes");
    let details = crate::without_secrets(payload["data"].clone());
    assert!(details.get("token_hash").is_none(), "{details}");
}

#[test]
fn an_api_key_name_is_unique_among_keys_in_use_only() {
    given::<OrganizationAggregate>([created(), key_created(1, "import", None)])
        .when(create_key(2, "import", None, at(2)))
        .then_err(OrganizationError::ApiKeyNameTaken);
    // Revoked or expired, its name is free again.
    let revoked = OrganizationEvent::ApiKeyRevoked {
        key_id: key_id(1),
        at: at(2),
    };
    given::<OrganizationAggregate>([created(), key_created(1, "import", None), revoked])
        .when(create_key(2, "import", None, at(3)))
        .then([key_created(2, "import", None).with_at(at(3))]);
    given::<OrganizationAggregate>([created(), key_created(1, "import", Some(at(2)))])
        .when(create_key(2, "import", None, at(3)))
        .then([key_created(2, "import", None).with_at(at(3))]);
}

#[test]
fn an_api_key_cannot_expire_in_the_past_nor_exceed_the_limit() {
    given::<OrganizationAggregate>([created()])
        .when(create_key(1, "late", Some(at(5)), at(5)))
        .then_err(OrganizationError::ApiKeyExpiryPassed);
    let full: Vec<OrganizationEvent> = std::iter::once(created())
        .chain((0..MAX_API_KEYS as u128).map(|n| key_created(n + 10, &format!("key {n}"), None)))
        .collect();
    given::<OrganizationAggregate>(full)
        .when(create_key(1, "one more", None, at(5)))
        .then_err(OrganizationError::TooManyApiKeys);
}

#[test]
fn revoking_an_api_key_stops_it_and_a_second_revocation_changes_nothing() {
    let revoked = OrganizationEvent::ApiKeyRevoked {
        key_id: key_id(1),
        at: at(4),
    };
    let state = given::<OrganizationAggregate>([created(), key_created(1, "import", None)])
        .when(OrganizationCommand::RevokeApiKey {
            key_id: key_id(1),
            at: at(4),
        })
        .then([revoked.clone()]);
    let OrganizationState::Present(org) = state else {
        panic!("organization exists")
    };
    assert!(!org.api_keys[&key_id(1)].is_usable(at(5)));
    given::<OrganizationAggregate>([created(), key_created(1, "import", None), revoked])
        .when(OrganizationCommand::RevokeApiKey {
            key_id: key_id(1),
            at: at(5),
        })
        .then([]);
    given::<OrganizationAggregate>([created()])
        .when(OrganizationCommand::RevokeApiKey {
            key_id: key_id(9),
            at: at(5),
        })
        .then_err(OrganizationError::NoApiKey);
}

impl OrganizationEvent {
    /// The same key creation at another time.
    fn with_at(self, when: Timestamp) -> Self {
        match self {
            Self::ApiKeyCreated {
                key_id,
                name,
                permissions,
                token_hash,
                expires_at,
                ..
            } => Self::ApiKeyCreated {
                key_id,
                name,
                permissions,
                token_hash,
                expires_at,
                at: when,
            },
            other => other,
        }
    }
}
