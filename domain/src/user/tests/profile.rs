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
