//! Registering and creating users; batches of commands.

use super::*;

// Registration and creation

#[test]
fn registers_a_user_and_sends_an_email_verification() {
    given::<UserAggregate>([])
        .when(UserCommand::Register {
            user: new_user(),
            password_hash: password(1),
            email_verification: token(2, 0, 48),
            at: at(0),
        })
        .then(history());
}

#[test]
fn registration_claims_email_username_and_phone() {
    let claims = UserAggregate::claims(&UserState::Absent, &history());
    assert_eq!(
        claims,
        vec![
            ClaimChange::take(ClaimKind::Email, "ann@example.com"),
            ClaimChange::take(ClaimKind::Username, "ann"),
            ClaimChange::take(ClaimKind::Phone, "+14155550100"),
        ]
    );
}

#[test]
fn refuses_to_register_an_existing_user() {
    given::<UserAggregate>(history())
        .when(UserCommand::Register {
            user: new_user(),
            password_hash: password(1),
            email_verification: token(2, 0, 48),
            at: at(1),
        })
        .then_err(UserError::AlreadyExists);
}

#[test]
fn an_admin_creates_a_user_without_a_password_by_invitation() {
    let state = given::<UserAggregate>([])
        .when(UserCommand::Create {
            user: new_user(),
            credential: FirstCredential::Invitation(token(3, 0, 60)),
            at: at(0),
        })
        .then([
            UserEvent::UserCreated {
                user_id: user_id(),
                email: email("ann@example.com").into(),
                username: Some(Username::parse("ann").expect("valid")),
                phone: Some(phone("+14155550100")),
                first_name: Some(PersonName::parse("Ann").expect("valid")),
                last_name: None,
                roles: roles(&["user"]),
                password_hash: None,
                preferred_language: None,
                at: at(0),
            },
            UserEvent::PasswordResetRequested {
                purpose: ResetPurpose::Invitation,
                token: token(3, 0, 60),
            },
        ]);
    assert!(!present(state).has_password());
}

#[test]
fn an_admin_creates_a_user_with_a_password() {
    let outcome = given::<UserAggregate>([])
        .when(UserCommand::Create {
            user: new_user(),
            credential: FirstCredential::Password {
                password_hash: password(4),
                temporary: false,
                email_verification: token(5, 0, 48),
            },
            at: at(0),
        })
        .outcome()
        .expect("accepted");
    // The welcome message carries a link to verify the address.
    assert_eq!(
        outcome[1],
        UserEvent::EmailVerificationRequested {
            token: token(5, 0, 48)
        }
    );
    let state = UserAggregate::fold(&outcome);
    assert!(present(state).has_password());
}

#[test]
fn refuses_commands_for_an_unknown_user() {
    given::<UserAggregate>([])
        .when(UserCommand::Unlock { at: at(1) })
        .then_err(UserError::NotFound);
}

// Batches

#[test]
fn a_batch_decides_each_command_on_the_state_the_previous_left() {
    let coach = Role::parse("COACH").expect("valid");
    let state = given::<UserAggregate>(history())
        .when(UserCommand::Batch(vec![
            UserCommand::ChangeUsername {
                username: None,
                at: at(3),
            },
            UserCommand::GrantRole {
                role: coach.clone(),
                at: at(3),
            },
            // Granting again in the same batch sees the first grant: nothing more.
            UserCommand::GrantRole {
                role: coach.clone(),
                at: at(3),
            },
        ]))
        .then([
            UserEvent::UsernameChanged {
                old_username: Some(Username::parse("ann").expect("valid")),
                new_username: None,
                at: at(3),
            },
            UserEvent::RoleGranted {
                role: coach.clone(),
                at: at(3),
            },
        ]);
    assert!(present(state).roles.contains(&coach));
}

#[test]
fn a_batch_with_one_refused_command_is_refused_whole() {
    given::<UserAggregate>(history())
        .when(UserCommand::Batch(vec![
            UserCommand::ChangeUsername {
                username: None,
                at: at(3),
            },
            UserCommand::Unlock { at: at(3) },
        ]))
        .then_err(UserError::NotLocked);
}
