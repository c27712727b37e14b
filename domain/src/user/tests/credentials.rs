//! Passwords, resets, logins and lockout.

use super::*;

// Passwords

#[test]
fn an_administrator_sets_a_password_to_be_changed_at_the_next_sign_in() {
    let state = given::<UserAggregate>(history())
        .when(UserCommand::SetPassword {
            password_hash: password(7),
            temporary: true,
            at: at(4),
        })
        .then([
            UserEvent::PasswordSet {
                password_hash: password(7),
                at: at(4),
            },
            UserEvent::PasswordChangeRequired { at: at(4) },
        ]);
    assert!(present(state).password_change_required);
    let state = given::<UserAggregate>(history())
        .when(UserCommand::SetPassword {
            password_hash: password(7),
            temporary: false,
            at: at(4),
        })
        .then([UserEvent::PasswordSet {
            password_hash: password(7),
            at: at(4),
        }]);
    assert!(!present(state).password_change_required);
}

#[test]
fn a_password_to_change_gives_a_change_token_not_a_session_until_changed() {
    let events = with(
        history(),
        [
            UserEvent::PasswordSet {
                password_hash: password(7),
                at: at(2),
            },
            UserEvent::PasswordChangeRequired { at: at(2) },
        ],
    );
    given::<UserAggregate>(events.clone())
        .when(UserCommand::RecordSuccessfulLogin {
            session_id: None,
            device: None,
            at: at(3),
        })
        .then_err(UserError::PasswordChangeRequired);
    let asked = with(
        events.clone(),
        [UserEvent::PasswordResetRequested {
            purpose: ResetPurpose::ChangeRequired,
            token: token(5, 3, 60),
        }],
    );
    given::<UserAggregate>(events.clone())
        .when(UserCommand::RequestRequiredPasswordChange {
            token: token(5, 3, 60),
        })
        .then([asked[asked.len() - 1].clone()]);
    // The token came with the sign-in, not by email: the address is not proved by it.
    let state = given::<UserAggregate>(asked)
        .when(UserCommand::CompletePasswordReset {
            token_hash: hash(5),
            password_hash: password(8),
            at: at(4),
        })
        .then([UserEvent::PasswordResetCompleted {
            password_hash: password(8),
            at: at(4),
        }]);
    let user = present(state.clone());
    assert!(!user.password_change_required);
    assert!(user.email_verified_at.is_none());
    given::<UserAggregate>(with(history(), []))
        .when(UserCommand::RequestRequiredPasswordChange {
            token: token(6, 5, 60),
        })
        .then_err(UserError::NoPasswordChangeRequired);
    // A locked account gets no change token, as it gets no session.
    given::<UserAggregate>(with(events, [policy_lock(3, 30)]))
        .when(UserCommand::RequestRequiredPasswordChange {
            token: token(6, 5, 60),
        })
        .then_err(UserError::Locked {
            until: Some(at(30)),
        });
}

#[test]
fn changes_the_password() {
    given::<UserAggregate>(history())
        .when(UserCommand::ChangePassword {
            password_hash: password(7),
            at: at(4),
        })
        .then([UserEvent::PasswordChanged {
            password_hash: password(7),
            at: at(4),
        }]);
}

#[test]
fn completes_a_password_reset_with_the_token_and_lifts_a_policy_lock() {
    let events = with(
        history(),
        [
            failed(1, 1),
            failed(2, 1),
            failed(3, 1),
            failed(4, 1),
            failed(5, 1),
            policy_lock(1, 16),
            UserEvent::PasswordResetRequested {
                purpose: ResetPurpose::Reset,
                token: token(4, 2, 60),
            },
        ],
    );
    let state = given::<UserAggregate>(events)
        .when(UserCommand::CompletePasswordReset {
            token_hash: hash(4),
            password_hash: password(8),
            at: at(3),
        })
        .then([
            UserEvent::PasswordResetCompleted {
                password_hash: password(8),
                at: at(3),
            },
            UserEvent::EmailVerified {
                email: email("ann@example.com").into(),
                by_hand: None,
                at: at(3),
            },
        ]);
    let user = present(state);
    assert!(!user.is_locked(at(4)));
    assert_eq!(user.failed_logins, 0);
    assert!(user.password_reset.is_none());
}

#[test]
fn a_reset_token_works_only_once() {
    let events = with(
        history(),
        [
            UserEvent::PasswordResetRequested {
                purpose: ResetPurpose::Reset,
                token: token(4, 2, 60),
            },
            UserEvent::PasswordResetCompleted {
                password_hash: password(8),
                at: at(3),
            },
        ],
    );
    given::<UserAggregate>(events)
        .when(UserCommand::CompletePasswordReset {
            token_hash: hash(4),
            password_hash: password(9),
            at: at(4),
        })
        .then_err(UserError::InvalidToken);
}

#[test]
fn refuses_an_expired_reset_token() {
    let requested = UserEvent::PasswordResetRequested {
        purpose: ResetPurpose::Reset,
        token: token(4, 2, 10),
    };
    given::<UserAggregate>(with(history(), [requested]))
        .when(UserCommand::CompletePasswordReset {
            token_hash: hash(4),
            password_hash: password(9),
            at: at(10),
        })
        .then_err(UserError::TokenExpired);
}

#[test]
fn refuses_a_password_reset_for_a_deactivated_user() {
    let deactivated = UserEvent::UserDeactivated {
        reason: None,
        at: at(1),
    };
    given::<UserAggregate>(with(history(), [deactivated]))
        .when(UserCommand::RequestPasswordReset {
            token: token(4, 2, 60),
        })
        .then_err(UserError::Deactivated);
}

// Logins and lockout

#[test]
fn counts_failed_logins() {
    given::<UserAggregate>(with(history(), [failed(1, 1)]))
        .when(UserCommand::RecordFailedLogin {
            policy: policy(),
            at: at(2),
        })
        .then([failed(2, 2)]);
}

#[test]
fn locks_the_account_after_five_failed_logins() {
    let state = given::<UserAggregate>(with(
        history(),
        [failed(1, 1), failed(2, 1), failed(3, 1), failed(4, 1)],
    ))
    .when(UserCommand::RecordFailedLogin {
        policy: policy(),
        at: at(2),
    })
    .then([failed(5, 2), policy_lock(2, 17)]);
    assert!(present(state).is_locked(at(16)));
}

#[test]
fn refuses_a_sixth_failed_login_while_locked() {
    let locked = with(
        history(),
        [
            failed(1, 1),
            failed(2, 1),
            failed(3, 1),
            failed(4, 1),
            failed(5, 2),
            policy_lock(2, 17),
        ],
    );
    given::<UserAggregate>(locked)
        .when(UserCommand::RecordFailedLogin {
            policy: policy(),
            at: at(3),
        })
        .then_err(UserError::Locked {
            until: Some(at(17)),
        });
}

#[test]
fn refuses_a_correct_password_while_locked() {
    let locked = with(history(), [failed(5, 2), policy_lock(2, 17)]);
    given::<UserAggregate>(locked)
        .when(UserCommand::RecordSuccessfulLogin {
            session_id: None,
            device: None,
            at: at(3),
        })
        .then_err(UserError::Locked {
            until: Some(at(17)),
        });
}

#[test]
fn a_policy_lock_expires_by_time_and_the_count_starts_again() {
    let locked = with(history(), [failed(5, 2), policy_lock(2, 17)]);
    let state = given::<UserAggregate>(locked.clone())
        .when(UserCommand::RecordFailedLogin {
            policy: policy(),
            at: at(17),
        })
        .then([failed(1, 17)]);
    assert!(!present(state).is_locked(at(17)));
    given::<UserAggregate>(locked)
        .when(UserCommand::RecordSuccessfulLogin {
            session_id: None,
            device: None,
            at: at(18),
        })
        .then([UserEvent::LoginSucceeded {
            session_id: None,
            at: at(18),
        }]);
}

#[test]
fn each_further_lock_before_a_successful_login_lasts_twice_as_long() {
    let events = with(
        history(),
        [
            failed(5, 2),
            policy_lock(2, 17),
            failed(1, 20),
            failed(2, 20),
            failed(3, 20),
            failed(4, 20),
        ],
    );
    given::<UserAggregate>(events)
        .when(UserCommand::RecordFailedLogin {
            policy: policy(),
            at: at(21),
        })
        .then([
            failed(5, 21),
            UserEvent::AccountLocked {
                kind: LockKind::Policy,
                reason: None,
                until: Some(at(21) + Duration::minutes(30)),
                at: at(21),
            },
        ]);
    assert_eq!(policy().lock_duration_after(10), Duration::hours(24));
}

#[test]
fn a_successful_login_resets_the_failure_count() {
    let state = given::<UserAggregate>(with(history(), [failed(3, 1)]))
        .when(UserCommand::RecordSuccessfulLogin {
            session_id: None,
            device: None,
            at: at(2),
        })
        .then([UserEvent::LoginSucceeded {
            session_id: None,
            at: at(2),
        }]);
    let user = present(state);
    assert_eq!(user.failed_logins, 0);
    assert_eq!(user.last_login_at, Some(at(2)));
}

#[test]
fn an_invited_user_cannot_log_in_before_setting_a_password() {
    let events = vec![UserEvent::UserCreated {
        user_id: user_id(),
        email: email("ann@example.com").into(),
        username: None,
        phone: None,
        first_name: None,
        last_name: None,
        roles: roles(&["user"]),
        password_hash: None,
        preferred_language: None,
        at: at(0),
    }];
    given::<UserAggregate>(events)
        .when(UserCommand::RecordSuccessfulLogin {
            session_id: None,
            device: None,
            at: at(1),
        })
        .then_err(UserError::NoPassword);
}

#[test]
fn refuses_a_password_change_for_a_deactivated_user() {
    let deactivated = UserEvent::UserDeactivated {
        reason: None,
        at: at(1),
    };
    given::<UserAggregate>(with(history(), [deactivated]))
        .when(UserCommand::ChangePassword {
            password_hash: password(7),
            at: at(2),
        })
        .then_err(UserError::Deactivated);
}

// Devices

fn device(name: &str) -> DeviceKind {
    DeviceKind::parse(name).expect("device")
}

#[test]
fn the_first_device_is_remembered_and_a_later_new_one_is_told() {
    let login = |name: &str, minute: u32| UserCommand::RecordSuccessfulLogin {
        session_id: None,
        device: Some(device(name)),
        at: at(minute),
    };
    let first = given::<UserAggregate>(history())
        .when(login("Firefox on Linux", 3))
        .then([
            UserEvent::LoginSucceeded {
                session_id: None,
                at: at(3),
            },
            UserEvent::SignedInFromNewDevice {
                device: device("Firefox on Linux"),
                first: true,
                at: at(3),
            },
        ]);
    assert!(
        present(first)
            .known_devices
            .contains(&device("Firefox on Linux"))
    );
    let seen = with(
        history(),
        [
            UserEvent::LoginSucceeded {
                session_id: None,
                at: at(3),
            },
            UserEvent::SignedInFromNewDevice {
                device: device("Firefox on Linux"),
                first: true,
                at: at(3),
            },
        ],
    );
    given::<UserAggregate>(seen.clone())
        .when(login("Firefox on Linux", 4))
        .then([UserEvent::LoginSucceeded {
            session_id: None,
            at: at(4),
        }]);
    given::<UserAggregate>(seen)
        .when(login("Safari on iPhone", 5))
        .then([
            UserEvent::LoginSucceeded {
                session_id: None,
                at: at(5),
            },
            UserEvent::SignedInFromNewDevice {
                device: device("Safari on iPhone"),
                first: false,
                at: at(5),
            },
        ]);
}

#[test]
fn a_device_kind_is_read_from_a_user_agent() {
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    assert_eq!(
        DeviceKind::of_user_agent(firefox).as_str(),
        "Firefox on Linux"
    );
    let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
    assert_eq!(DeviceKind::of_user_agent(edge).as_str(), "Edge on Windows");
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    assert_eq!(
        DeviceKind::of_user_agent(iphone).as_str(),
        "Safari on iPhone"
    );
    assert_eq!(DeviceKind::of_user_agent("curl/8.5.0").as_str(), "curl");
    assert_eq!(DeviceKind::of_user_agent("").as_str(), "unknown device");
}
