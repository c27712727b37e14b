//! Links to organizations.

use super::*;

// Organization links

#[test]
fn links_and_unlinks_organizations_once() {
    let organization_id = crate::OrganizationId::from_uuid(uuid::Uuid::from_u128(9));
    let state = given::<UserAggregate>(history())
        .when(UserCommand::LinkOrganization {
            organization_id,
            at: at(1),
        })
        .then([UserEvent::OrganizationLinked {
            organization_id,
            at: at(1),
        }]);
    assert!(present(state).organizations.contains(&organization_id));
    let mut linked = history();
    linked.push(UserEvent::OrganizationLinked {
        organization_id,
        at: at(1),
    });
    given::<UserAggregate>(linked.clone())
        .when(UserCommand::LinkOrganization {
            organization_id,
            at: at(2),
        })
        .then([]);
    let state = given::<UserAggregate>(linked)
        .when(UserCommand::UnlinkOrganization {
            organization_id,
            at: at(3),
        })
        .then([UserEvent::OrganizationUnlinked {
            organization_id,
            at: at(3),
        }]);
    assert!(present(state).organizations.is_empty());
    given::<UserAggregate>(history())
        .when(UserCommand::UnlinkOrganization {
            organization_id,
            at: at(3),
        })
        .then([]);
}

#[test]
fn a_deleted_user_cannot_join_an_organization() {
    let organization_id = crate::OrganizationId::from_uuid(uuid::Uuid::from_u128(9));
    let mut deleted = history();
    deleted.push(UserEvent::UserDeleted { at: at(1) });
    given::<UserAggregate>(deleted)
        .when(UserCommand::LinkOrganization {
            organization_id,
            at: at(2),
        })
        .then_err(UserError::Deleted);
}

fn name() -> crate::values::OrganizationName {
    crate::values::OrganizationName::parse("Acme").expect("valid name")
}

#[test]
fn an_invitation_links_the_organization_so_the_person_finds_it() {
    let organization_id = crate::OrganizationId::from_uuid(uuid::Uuid::from_u128(9));
    let state = given::<UserAggregate>(history())
        .when(UserCommand::NoteInvitation {
            organization_id,
            organization_name: name(),
            expires_at: at(60),
            at: at(1),
        })
        .then([UserEvent::InvitedToOrganization {
            organization_id,
            organization_name: name(),
            expires_at: at(60),
            at: at(1),
        }]);
    assert!(present(state).organizations.contains(&organization_id));
}
