//! Admin locks, deactivation, deletion and forgetting.

use super::*;

// Admin locks and lifecycle

#[test]
fn an_admin_locks_and_unlocks_an_account() {
    let reason = Some(Reason::parse("suspicious activity").expect("valid"));
    let lock = UserEvent::AccountLocked {
        kind: LockKind::Admin,
        reason: reason.clone(),
        until: None,
        at: at(5),
    };
    let state = given::<UserAggregate>(history())
        .when(UserCommand::Lock {
            reason,
            until: None,
            at: at(5),
        })
        .then([lock.clone()]);
    assert!(present(state).is_locked(at(59)));
    given::<UserAggregate>(with(history(), [lock]))
        .when(UserCommand::Unlock { at: at(6) })
        .then([UserEvent::AccountUnlocked { at: at(6) }]);
}

#[test]
fn refuses_a_lock_that_ends_before_it_starts() {
    given::<UserAggregate>(history())
        .when(UserCommand::Lock {
            reason: None,
            until: Some(at(4)),
            at: at(5),
        })
        .then_err(UserError::LockEndsInPast);
}

#[test]
fn refuses_to_unlock_an_account_that_is_not_locked() {
    given::<UserAggregate>(history())
        .when(UserCommand::Unlock { at: at(6) })
        .then_err(UserError::NotLocked);
}

#[test]
fn refuses_to_lock_a_deleted_user() {
    given::<UserAggregate>(with(history(), [deleted()]))
        .when(UserCommand::Lock {
            reason: None,
            until: None,
            at: at(31),
        })
        .then_err(UserError::Deleted);
}

#[test]
fn deactivates_and_reactivates_an_account() {
    let deactivated = UserEvent::UserDeactivated {
        reason: None,
        at: at(1),
    };
    let state = given::<UserAggregate>(history())
        .when(UserCommand::Deactivate {
            reason: None,
            at: at(1),
        })
        .then([deactivated.clone()]);
    assert_eq!(present(state).status, UserStatus::Deactivated);
    given::<UserAggregate>(with(history(), [deactivated.clone()]))
        .when(UserCommand::RecordSuccessfulLogin {
            session_id: None,
            device: None,
            at: at(2),
        })
        .then_err(UserError::Deactivated);
    given::<UserAggregate>(with(history(), [deactivated]))
        .when(UserCommand::Reactivate { at: at(3) })
        .then([UserEvent::UserReactivated { at: at(3) }]);
}

#[test]
fn refuses_to_reactivate_an_active_account() {
    given::<UserAggregate>(history())
        .when(UserCommand::Reactivate { at: at(3) })
        .then_err(UserError::NotDeactivated);
}

#[test]
fn deleting_a_user_releases_their_unique_values() {
    let before = UserAggregate::fold(&history());
    given::<UserAggregate>(history())
        .when(UserCommand::Delete { at: at(30) })
        .then([deleted()]);
    assert_eq!(
        UserAggregate::claims(&before, &[deleted()]),
        vec![
            ClaimChange::release(ClaimKind::Email, "ann@example.com"),
            ClaimChange::release(ClaimKind::Username, "ann"),
            ClaimChange::release(ClaimKind::Phone, "+14155550100"),
        ]
    );
}

#[test]
fn a_deleted_user_is_restored_within_the_window_as_they_were_without_memberships() {
    let organization = crate::OrganizationId::from_uuid(uuid::Uuid::nil());
    let deactivated = with(
        history(),
        [
            UserEvent::OrganizationLinked {
                organization_id: organization,
                at: at(2),
            },
            UserEvent::UserDeactivated {
                reason: None,
                at: at(3),
            },
            deleted(),
        ],
    );
    let window = Duration::minutes(60);
    let state = given::<UserAggregate>(deactivated.clone())
        .when(UserCommand::Restore { window, at: at(90) })
        .then([UserEvent::UserRestored { at: at(90) }]);
    let user = present(state);
    assert_eq!(
        user.status,
        UserStatus::Deactivated,
        "as before the deletion"
    );
    assert!(user.organizations.is_empty());
    assert!(user.deletion.is_none());
    // The values are taken again: a clash with someone who took one since is a conflict.
    let before = UserAggregate::fold(&deactivated);
    assert_eq!(
        UserAggregate::claims(&before, &[UserEvent::UserRestored { at: at(90) }]),
        vec![
            ClaimChange::take(ClaimKind::Email, "ann@example.com"),
            ClaimChange::take(ClaimKind::Username, "ann"),
            ClaimChange::take(ClaimKind::Phone, "+14155550100"),
        ]
    );
    given::<UserAggregate>(deactivated)
        .when(UserCommand::Restore { window, at: at(91) })
        .then_err(UserError::RestoreWindowPassed);
    given::<UserAggregate>(history())
        .when(UserCommand::Restore { window, at: at(10) })
        .then_err(UserError::NotDeleted);
    given::<UserAggregate>(with(
        history(),
        [deleted(), UserEvent::UserForgotten { at: at(40) }],
    ))
    .when(UserCommand::Restore { window, at: at(41) })
    .then_err(UserError::Forgotten);
}

#[test]
fn refuses_every_command_on_a_deleted_user() {
    given::<UserAggregate>(with(history(), [deleted()]))
        .when(UserCommand::Delete { at: at(31) })
        .then_err(UserError::Deleted);
    given::<UserAggregate>(with(history(), [deleted()]))
        .when(UserCommand::RecordFailedLogin {
            policy: policy(),
            at: at(31),
        })
        .then_err(UserError::Deleted);
}

#[test]
fn refuses_to_deactivate_an_account_twice() {
    let deactivated = UserEvent::UserDeactivated {
        reason: None,
        at: at(1),
    };
    given::<UserAggregate>(with(history(), [deactivated]))
        .when(UserCommand::Deactivate {
            reason: None,
            at: at(2),
        })
        .then_err(UserError::Deactivated);
}

#[test]
fn refuses_changes_to_a_deleted_user() {
    given::<UserAggregate>(with(history(), [deleted()]))
        .when(UserCommand::ChangeUsername {
            username: None,
            at: at(31),
        })
        .then_err(UserError::Deleted);
    given::<UserAggregate>(with(history(), [deleted()]))
        .when(UserCommand::ConfirmEmailVerification {
            token_hash: hash(2),
            at: at(31),
        })
        .then_err(UserError::Deleted);
}

// Forgetting (right to erasure)

#[test]
fn forgetting_a_user_leaves_nothing_personal_and_releases_their_values() {
    let history = with(vec![registered(), verification_sent()], []);
    let state = given::<UserAggregate>(history.clone())
        .when(UserCommand::Forget { at: at(30) })
        .then([UserEvent::UserForgotten { at: at(30) }]);
    assert_eq!(
        state,
        UserState::Forgotten(ForgottenUser {
            id: user_id(),
            created_at: at(0),
            forgotten_at: Some(at(30)),
        })
    );
    assert!(state.user().is_none());
    let before = UserAggregate::fold(&history);
    let claims = UserAggregate::claims(&before, &[UserEvent::UserForgotten { at: at(30) }]);
    assert_eq!(
        claims,
        vec![
            ClaimChange::release(ClaimKind::Email, "ann@example.com"),
            ClaimChange::release(ClaimKind::Username, "ann"),
            ClaimChange::release(ClaimKind::Phone, "+14155550100"),
        ]
    );
    assert!(UserEvent::UserForgotten { at: at(30) }.forgets_data_subject());
    assert!(!deleted().forgets_data_subject());
}

#[test]
fn a_deleted_user_can_be_forgotten_and_their_released_values_are_not_released_again() {
    let history = with(vec![registered(), verification_sent()], [deleted()]);
    given::<UserAggregate>(history.clone())
        .when(UserCommand::Forget { at: at(40) })
        .then([UserEvent::UserForgotten { at: at(40) }]);
    let before = UserAggregate::fold(&history);
    assert_eq!(
        UserAggregate::claims(&before, &[UserEvent::UserForgotten { at: at(40) }]),
        vec![]
    );
}

#[test]
fn refuses_every_command_on_a_forgotten_user() {
    let history = with(
        vec![registered(), verification_sent()],
        [UserEvent::UserForgotten { at: at(30) }],
    );
    for command in [
        UserCommand::Forget { at: at(31) },
        UserCommand::Delete { at: at(31) },
        UserCommand::RecordSuccessfulLogin {
            session_id: None,
            device: None,
            at: at(31),
        },
        UserCommand::Register {
            user: new_user(),
            password_hash: password(2),
            email_verification: token(3, 31, 60),
            at: at(31),
        },
    ] {
        let refusal = given::<UserAggregate>(history.clone())
            .when(command)
            .outcome();
        assert!(
            matches!(
                refusal,
                Err(UserError::Forgotten | UserError::AlreadyExists)
            ),
            "{refusal:?}"
        );
    }
}

#[test]
fn an_erased_history_reads_back_and_folds_into_what_is_left_of_a_forgotten_user() {
    // What the log gives back once the key is destroyed: personal fields erased.
    let erased = serde_json::json!({ "$erased": true });
    let mut registration = registered().to_payload().expect("payload");
    for field in ["email", "username", "phone", "first_name"] {
        registration[field] = erased.clone();
    }
    let registration =
        UserEvent::from_payload("UserRegistered", registration).expect("reads, not an error");
    let UserEvent::UserRegistered {
        email: erased_email,
        username,
        phone,
        ..
    } = &registration
    else {
        panic!("a registration")
    };
    assert!(erased_email.is_erased());
    assert_eq!((username, phone), (&None, &None));
    let mut profile = UserEvent::ProfileUpdated {
        first_name: Some(PersonName::parse("Ann").expect("valid")),
        last_name: None,
        profile: Profile::default(),
        at: at(5),
    }
    .to_payload()
    .expect("payload");
    profile["first_name"] = erased.clone();
    profile["profile"] = erased.clone();
    let profile = UserEvent::from_payload("ProfileUpdated", profile).expect("reads");
    let mut changed = UserEvent::EmailChanged {
        old_email: email("ann@example.com").into(),
        new_email: email("ann@example.org").into(),
        at: at(6),
    }
    .to_payload()
    .expect("payload");
    changed["old_email"] = erased.clone();
    changed["new_email"] = erased.clone();
    let changed = UserEvent::from_payload("EmailChanged", changed).expect("reads");
    assert_eq!(
        serde_json::to_value(&changed).expect("json")["data"]["new_email"],
        erased,
        "erased stays marked when written out again"
    );

    let state = UserAggregate::fold(&[
        registration,
        profile,
        changed,
        UserEvent::UserForgotten { at: at(30) },
    ]);
    assert_eq!(
        state,
        UserState::Forgotten(ForgottenUser {
            id: user_id(),
            created_at: at(0),
            forgotten_at: Some(at(30)),
        })
    );
}
