//! Profile, email, phone, username, roles and picture.

use super::*;

// Profile, email, phone, username

#[test]
fn updates_the_profile() {
    let profile = Profile {
        address: Some(Address {
            line1: AddressLine::parse("1 Main St").expect("valid"),
            line2: None,
            city: AddressLine::parse("Springfield").expect("valid"),
            region: None,
            postal_code: None,
            country: CountryCode::parse("us").expect("valid"),
        }),
        emergency_contact: None,
        preferred_language: Some(LanguageTag::parse("en-US").expect("valid")),
        notification_preferences: Default::default(),
    };
    let last_name = Some(PersonName::parse("Lee").expect("valid"));
    let first_name = Some(PersonName::parse("Ann").expect("valid"));
    given::<UserAggregate>(history())
        .when(UserCommand::UpdateProfile {
            first_name: first_name.clone(),
            last_name: last_name.clone(),
            profile: profile.clone(),
            at: at(3),
        })
        .then([UserEvent::ProfileUpdated {
            first_name,
            last_name,
            profile,
            at: at(3),
        }]);
}

#[test]
fn an_unchanged_profile_appends_nothing() {
    given::<UserAggregate>(history())
        .when(UserCommand::UpdateProfile {
            first_name: Some(PersonName::parse("Ann").expect("valid")),
            last_name: None,
            profile: Profile::default(),
            at: at(3),
        })
        .then([]);
}

#[test]
fn changing_the_email_restarts_its_verification_and_moves_the_claim() {
    let verified = UserEvent::EmailVerified {
        email: email("ann@example.com").into(),
        by_hand: None,
        at: at(2),
    };
    let events = given::<UserAggregate>(with(history(), [verified.clone()]))
        .when(UserCommand::ChangeEmail {
            email: email("ann@new.example"),
            verification: token(9, 3, 51),
        })
        .outcome()
        .expect("accepted");
    assert_eq!(
        events,
        vec![
            UserEvent::EmailChanged {
                old_email: email("ann@example.com").into(),
                new_email: email("ann@new.example").into(),
                at: at(3)
            },
            UserEvent::EmailVerificationRequested {
                token: token(9, 3, 51)
            },
        ]
    );
    let before = UserAggregate::fold(&with(history(), [verified]));
    assert_eq!(
        UserAggregate::claims(&before, &events),
        vec![
            ClaimChange::release(ClaimKind::Email, "ann@example.com"),
            ClaimChange::take(ClaimKind::Email, "ann@new.example"),
        ]
    );
    let user = present(events.iter().fold(before, UserAggregate::evolve));
    assert_eq!(user.email_verified_at, None);
}

#[test]
fn changing_the_phone_restarts_its_verification() {
    let verified = UserEvent::PhoneVerified {
        phone: phone("+14155550100").into(),
        by_hand: None,
        at: at(2),
    };
    let state = given::<UserAggregate>(with(history(), [verified]))
        .when(UserCommand::ChangePhone {
            phone: Some(phone("+442071838750")),
            at: at(3),
        })
        .then([UserEvent::PhoneChanged {
            old_phone: Some(phone("+14155550100")),
            new_phone: Some(phone("+442071838750")),
            at: at(3),
        }]);
    assert_eq!(present(state).phone_verified_at, None);
}

#[test]
fn changes_the_username() {
    given::<UserAggregate>(history())
        .when(UserCommand::ChangeUsername {
            username: Some(Username::parse("ann.lee").expect("valid")),
            at: at(3),
        })
        .then([UserEvent::UsernameChanged {
            old_username: Some(Username::parse("ann").expect("valid")),
            new_username: Some(Username::parse("ann.lee").expect("valid")),
            at: at(3),
        }]);
}

// Roles

#[test]
fn grants_and_revokes_roles() {
    let coach = Role::parse("COACH").expect("valid");
    let state = given::<UserAggregate>(history())
        .when(UserCommand::GrantRole {
            role: coach.clone(),
            at: at(1),
        })
        .then([UserEvent::RoleGranted {
            role: coach.clone(),
            at: at(1),
        }]);
    assert!(present(state).roles.contains(&coach));
    given::<UserAggregate>(with(
        history(),
        [UserEvent::RoleGranted {
            role: coach.clone(),
            at: at(1),
        }],
    ))
    .when(UserCommand::RevokeRole {
        role: coach.clone(),
        at: at(2),
    })
    .then([UserEvent::RoleRevoked {
        role: coach,
        at: at(2),
    }]);
}

#[test]
fn granting_a_held_role_changes_nothing() {
    given::<UserAggregate>(history())
        .when(UserCommand::GrantRole {
            role: Role::parse("user").expect("valid"),
            at: at(1),
        })
        .then([]);
}

// Role profiles

fn student() -> crate::role_catalog::RoleDefinition {
    use crate::role_catalog::{FieldType, ProfileField};
    let field = |name: &str, kind, required, allowed: &[&str]| ProfileField {
        name: crate::values::FieldName::parse(name).expect("field"),
        kind,
        required,
        allowed: allowed.iter().map(|value| (*value).to_owned()).collect(),
    };
    crate::role_catalog::RoleDefinition {
        privileged: false,
        fields: vec![
            field("student_id", FieldType::Text, true, &[]),
            field(
                "department",
                FieldType::Text,
                true,
                &["physics", "chemistry"],
            ),
            field("year", FieldType::Integer, false, &[]),
        ],
    }
}

fn values(pairs: serde_json::Value) -> crate::role_catalog::ProfileValues {
    serde_json::from_value(pairs).expect("values")
}

fn holding_student() -> Vec<UserEvent> {
    with(
        history(),
        [UserEvent::RoleGranted {
            role: Role::parse("student").expect("valid"),
            at: at(1),
        }],
    )
}

#[test]
fn sets_a_role_profile_as_the_definition_takes_it_and_a_revoke_drops_it() {
    let student_role = Role::parse("student").expect("valid");
    let command = |values| UserCommand::SetRoleProfile {
        role: student_role.clone(),
        definition: student(),
        values,
        at: at(2),
    };
    let set = UserEvent::RoleProfileSet {
        role: student_role.clone(),
        profile: values(
            serde_json::json!({"student_id": "S-1", "department": "physics", "year": 2}),
        ),
        at: at(2),
    };
    let state = given::<UserAggregate>(holding_student())
        .when(command(values(
            serde_json::json!({"student_id": " S-1 ", "department": "physics", "year": 2}),
        )))
        .then([set.clone()]);
    assert_eq!(
        present(state).role_profiles[&student_role]
            [&crate::values::FieldName::parse("department").expect("field")],
        "physics"
    );
    // The same values again change nothing.
    given::<UserAggregate>(with(holding_student(), [set.clone()]))
        .when(command(values(
            serde_json::json!({"student_id": "S-1", "department": "physics", "year": 2}),
        )))
        .then([]);
    let revoked = given::<UserAggregate>(with(holding_student(), [set]))
        .when(UserCommand::RevokeRole {
            role: student_role.clone(),
            at: at(3),
        })
        .then([UserEvent::RoleRevoked {
            role: student_role,
            at: at(3),
        }]);
    assert!(present(revoked).role_profiles.is_empty());
}

#[test]
fn refuses_a_role_profile_the_definition_does_not_take_or_for_a_role_not_held() {
    let command = |role: &str, values| UserCommand::SetRoleProfile {
        role: Role::parse(role).expect("valid"),
        definition: student(),
        values,
        at: at(2),
    };
    given::<UserAggregate>(holding_student())
        .when(command(
            "student",
            values(serde_json::json!({"department": "music", "year": "two", "club": "chess"})),
        ))
        .then_err(UserError::InvalidRoleProfile(vec![
            ("club".to_owned(), "is not a field of this role".to_owned()),
            ("student_id".to_owned(), "is required".to_owned()),
            (
                "department".to_owned(),
                "must be one of physics, chemistry".to_owned(),
            ),
            ("year".to_owned(), "must be a whole number".to_owned()),
        ]));
    given::<UserAggregate>(history())
        .when(command(
            "student",
            values(serde_json::json!({"student_id": "S-1", "department": "physics"})),
        ))
        .then_err(UserError::RoleNotHeld);
}

// Profile picture

fn picture(extension: &str) -> Picture {
    Picture {
        key: format!("accounts/1/profile/picture.{extension}"),
        content_type: "image/png".into(),
        size: 42,
        sha256: "ab".repeat(32),
        renditions: vec![256, 64],
    }
}

#[test]
fn a_pictures_renditions_sit_beside_it() {
    let picture = picture("png");
    assert_eq!(
        picture.keys(),
        [
            "accounts/1/profile/picture.png",
            "accounts/1/profile/picture-256.png",
            "accounts/1/profile/picture-64.png"
        ]
    );
    // Pictures stored before renditions existed read back without them.
    let old: Picture = serde_json::from_value(serde_json::json!({
        "key": "accounts/1/profile/picture.png",
        "content_type": "image/png",
        "size": 42,
        "sha256": "ab",
    }))
    .expect("an older picture");
    assert!(old.renditions.is_empty());
}

#[test]
fn a_picture_is_set_replaced_and_removed() {
    let state = given::<UserAggregate>(history())
        .when(UserCommand::SetProfilePicture {
            picture: picture("png"),
            at: at(1),
        })
        .then([UserEvent::ProfilePictureSet {
            picture: picture("png"),
            at: at(1),
        }]);
    assert_eq!(present(state).picture, Some(picture("png")));
    let with_picture = with(
        history(),
        [UserEvent::ProfilePictureSet {
            picture: picture("png"),
            at: at(1),
        }],
    );
    given::<UserAggregate>(with_picture.clone())
        .when(UserCommand::SetProfilePicture {
            picture: picture("png"),
            at: at(2),
        })
        .then([]);
    let state = given::<UserAggregate>(with_picture)
        .when(UserCommand::RemoveProfilePicture { at: at(2) })
        .then([UserEvent::ProfilePictureRemoved { at: at(2) }]);
    assert_eq!(present(state).picture, None);
    given::<UserAggregate>(history())
        .when(UserCommand::RemoveProfilePicture { at: at(2) })
        .then_err(UserError::NoPicture);
}
