use super::*;
use crate::testing::given;
use crate::values::{Address, AddressLine, CountryCode, LanguageTag};
use chrono::TimeZone;

fn at(minute: u32) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("valid time")
        + Duration::minutes(minute.into())
}
fn user_id() -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(1))
}
fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid email")
}
fn phone(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw).expect("valid phone")
}
fn hash(n: u8) -> TokenHash {
    TokenHash::from_bytes([n; 32])
}
fn password(n: u8) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1$salt{n}$hash{n}"))
}
fn token(n: u8, issued: u32, expires: u32) -> PendingToken {
    PendingToken {
        token_hash: hash(n),
        issued_at: at(issued),
        expires_at: at(expires),
    }
}
fn roles(names: &[&str]) -> BTreeSet<Role> {
    names
        .iter()
        .map(|n| Role::parse(n).expect("valid role"))
        .collect()
}
fn policy() -> LockoutPolicy {
    LockoutPolicy {
        max_failed_attempts: 5,
        lock_duration: Duration::minutes(15),
        max_lock_duration: Duration::hours(24),
    }
}
fn new_user() -> NewUser {
    NewUser {
        user_id: user_id(),
        email: email("ann@example.com"),
        username: Some(Username::parse("ann").expect("valid")),
        phone: Some(phone("+14155550100")),
        first_name: Some(PersonName::parse("Ann").expect("valid")),
        last_name: None,
        roles: roles(&["user"]),
    }
}
fn registered() -> UserEvent {
    UserEvent::UserRegistered {
        user_id: user_id(),
        email: email("ann@example.com").into(),
        username: Some(Username::parse("ann").expect("valid")),
        phone: Some(phone("+14155550100")),
        first_name: Some(PersonName::parse("Ann").expect("valid")),
        last_name: None,
        roles: roles(&["user"]),
        password_hash: password(1),
        at: at(0),
    }
}
fn verification_sent() -> UserEvent {
    UserEvent::EmailVerificationRequested {
        token: token(2, 0, 48),
    }
}
fn failed(n: u32, minute: u32) -> UserEvent {
    UserEvent::LoginFailed {
        failed_attempts: n,
        at: at(minute),
    }
}
fn policy_lock(minute: u32, until: u32) -> UserEvent {
    UserEvent::AccountLocked {
        kind: LockKind::Policy,
        reason: None,
        until: Some(at(until)),
        at: at(minute),
    }
}
fn deleted() -> UserEvent {
    UserEvent::UserDeleted { at: at(30) }
}
fn history() -> Vec<UserEvent> {
    vec![registered(), verification_sent()]
}
fn with(mut events: Vec<UserEvent>, more: impl IntoIterator<Item = UserEvent>) -> Vec<UserEvent> {
    events.extend(more);
    events
}
fn present(state: UserState) -> User {
    match state {
        UserState::Present(user) => *user,
        UserState::Absent | UserState::Forgotten(_) => panic!("the user should exist"),
    }
}

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
            password_hash: None,
            invitation: Some(token(3, 0, 60)),
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
            password_hash: Some(password(4)),
            invitation: None,
            at: at(0),
        })
        .outcome()
        .expect("accepted");
    assert_eq!(outcome.len(), 1);
    let state = UserAggregate::fold(&outcome);
    assert!(present(state).has_password());
}

#[test]
fn refuses_commands_for_an_unknown_user() {
    given::<UserAggregate>([])
        .when(UserCommand::Unlock { at: at(1) })
        .then_err(UserError::NotFound);
}

// Email verification

#[test]
fn verifies_the_email_with_the_token_that_was_sent() {
    let state = given::<UserAggregate>(history())
        .when(UserCommand::ConfirmEmailVerification {
            token_hash: hash(2),
            at: at(10),
        })
        .then([UserEvent::EmailVerified {
            email: email("ann@example.com").into(),
            at: at(10),
        }]);
    assert_eq!(present(state).email_verified_at, Some(at(10)));
}

#[test]
fn refuses_an_email_verification_token_that_was_not_sent() {
    given::<UserAggregate>(history())
        .when(UserCommand::ConfirmEmailVerification {
            token_hash: hash(9),
            at: at(10),
        })
        .then_err(UserError::InvalidToken);
}

#[test]
fn refuses_an_expired_email_verification_token() {
    given::<UserAggregate>(history())
        .when(UserCommand::ConfirmEmailVerification {
            token_hash: hash(2),
            at: at(48),
        })
        .then_err(UserError::TokenExpired);
}

#[test]
fn an_email_verification_token_works_only_once() {
    let verified = UserEvent::EmailVerified {
        email: email("ann@example.com").into(),
        at: at(10),
    };
    given::<UserAggregate>(with(history(), [verified]))
        .when(UserCommand::ConfirmEmailVerification {
            token_hash: hash(2),
            at: at(11),
        })
        .then_err(UserError::EmailAlreadyVerified);
}

#[test]
fn resending_the_verification_email_waits_a_minute() {
    given::<UserAggregate>(history())
        .when(UserCommand::RequestEmailVerification {
            token: PendingToken {
                token_hash: hash(5),
                issued_at: at(0) + Duration::seconds(30),
                expires_at: at(48),
            },
        })
        .then_err(UserError::TooSoon {
            retry_after_seconds: 30,
        });
    given::<UserAggregate>(history())
        .when(UserCommand::RequestEmailVerification {
            token: token(5, 1, 49),
        })
        .then([UserEvent::EmailVerificationRequested {
            token: token(5, 1, 49),
        }]);
}

// Phone verification

fn code_sent(minute: u32) -> UserEvent {
    UserEvent::PhoneVerificationRequested {
        code_hash: hash(6),
        issued_at: at(minute),
        expires_at: at(minute + 10),
    }
}

#[test]
fn verifies_the_phone_with_the_code_that_was_sent() {
    given::<UserAggregate>(with(history(), [code_sent(1)]))
        .when(UserCommand::ConfirmPhoneVerification {
            code_hash: hash(6),
            at: at(5),
        })
        .then([UserEvent::PhoneVerified {
            phone: phone("+14155550100").into(),
            at: at(5),
        }]);
}

#[test]
fn a_wrong_phone_code_is_recorded_as_a_failed_attempt() {
    let state = given::<UserAggregate>(with(history(), [code_sent(1)]))
        .when(UserCommand::ConfirmPhoneVerification {
            code_hash: hash(7),
            at: at(2),
        })
        .then([UserEvent::PhoneVerificationFailed {
            attempts_left: 4,
            at: at(2),
        }]);
    assert_eq!(
        present(state).phone_verification.map(|c| c.attempts_left),
        Some(4)
    );
}

#[test]
fn refuses_a_phone_code_after_five_wrong_ones() {
    let wrong: Vec<UserEvent> = (0..5)
        .rev()
        .map(|left| UserEvent::PhoneVerificationFailed {
            attempts_left: left,
            at: at(2),
        })
        .collect();
    given::<UserAggregate>(with(with(history(), [code_sent(1)]), wrong))
        .when(UserCommand::ConfirmPhoneVerification {
            code_hash: hash(6),
            at: at(3),
        })
        .then_err(UserError::TooManyAttempts);
}

#[test]
fn refuses_an_expired_phone_code() {
    given::<UserAggregate>(with(history(), [code_sent(1)]))
        .when(UserCommand::ConfirmPhoneVerification {
            code_hash: hash(6),
            at: at(11),
        })
        .then_err(UserError::TokenExpired);
}

#[test]
fn a_new_phone_code_waits_for_the_cooldown() {
    given::<UserAggregate>(with(history(), [code_sent(1)]))
        .when(UserCommand::RequestPhoneVerification {
            code_hash: hash(8),
            expires_at: at(12),
            at: at(1),
        })
        .then_err(UserError::TooSoon {
            retry_after_seconds: 60,
        });
}

#[test]
fn refuses_phone_verification_without_a_phone_number() {
    let no_phone = UserEvent::PhoneChanged {
        old_phone: Some(phone("+14155550100")),
        new_phone: None,
        at: at(1),
    };
    given::<UserAggregate>(with(history(), [no_phone]))
        .when(UserCommand::RequestPhoneVerification {
            code_hash: hash(8),
            expires_at: at(12),
            at: at(2),
        })
        .then_err(UserError::NoPhoneNumber);
}

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

// Passwords

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
        at: at(0),
    }];
    given::<UserAggregate>(events)
        .when(UserCommand::RecordSuccessfulLogin {
            session_id: None,
            at: at(1),
        })
        .then_err(UserError::NoPassword);
}

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

// Stored form

#[test]
fn events_round_trip_through_their_stored_form() {
    for event in with(history(), [failed(1, 1), policy_lock(1, 16), deleted()]) {
        let payload = event.to_payload().expect("serializes");
        assert!(
            payload.get("type").is_none(),
            "the type tag is stored beside the payload"
        );
        let back = UserEvent::from_payload(event.event_type(), payload).expect("parses");
        assert_eq!(back, event);
    }
}

#[test]
fn personal_fields_point_at_real_payload_fields() {
    let profile_updated = UserEvent::ProfileUpdated {
        first_name: None,
        last_name: None,
        profile: Profile::default(),
        at: at(1),
    };
    for event in [registered(), profile_updated] {
        let payload = event.to_payload().expect("serializes");
        for pointer in event.personal_fields() {
            assert!(
                payload.pointer(pointer).is_some(),
                "{pointer} is not in {}",
                event.event_type()
            );
        }
    }
}

// More rejections

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
fn refuses_to_send_a_verification_for_an_email_already_verified() {
    let verified = UserEvent::EmailVerified {
        email: email("ann@example.com").into(),
        at: at(2),
    };
    given::<UserAggregate>(with(history(), [verified]))
        .when(UserCommand::RequestEmailVerification {
            token: token(5, 3, 50),
        })
        .then_err(UserError::EmailAlreadyVerified);
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

#[test]
fn refuses_to_verify_a_phone_when_no_code_was_sent() {
    given::<UserAggregate>(history())
        .when(UserCommand::ConfirmPhoneVerification {
            code_hash: hash(6),
            at: at(2),
        })
        .then_err(UserError::NothingToVerify);
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

// TOTP

fn enrolled() -> Vec<UserEvent> {
    with(
        history(),
        [UserEvent::TotpEnrollmentStarted {
            sealed_secret: "sealed".into(),
            at: at(1),
        }],
    )
}

fn totp_on() -> Vec<UserEvent> {
    with(
        enrolled(),
        [UserEvent::TotpEnabled {
            step: 100,
            recovery_codes: vec![hash(7), hash(8)],
            at: at(2),
        }],
    )
}

#[test]
fn totp_is_enabled_by_a_first_code_after_enrollment() {
    given::<UserAggregate>(history())
        .when(UserCommand::ConfirmTotp {
            step: 100,
            recovery_codes: vec![],
            at: at(2),
        })
        .then_err(UserError::TotpNotEnrolled);
    let state = given::<UserAggregate>(enrolled())
        .when(UserCommand::ConfirmTotp {
            step: 100,
            recovery_codes: vec![hash(7), hash(8)],
            at: at(2),
        })
        .then([UserEvent::TotpEnabled {
            step: 100,
            recovery_codes: vec![hash(7), hash(8)],
            at: at(2),
        }]);
    assert!(present(state).has_mfa());
    given::<UserAggregate>(totp_on())
        .when(UserCommand::StartTotpEnrollment {
            sealed_secret: "again".into(),
            at: at(3),
        })
        .then_err(UserError::TotpAlreadyEnabled);
}

#[test]
fn a_totp_code_is_good_once_and_never_for_an_earlier_step() {
    given::<UserAggregate>(totp_on())
        .when(UserCommand::UseTotpCode {
            step: 100,
            at: at(3),
        })
        .then_err(UserError::TotpCodeReused);
    given::<UserAggregate>(totp_on())
        .when(UserCommand::UseTotpCode {
            step: 99,
            at: at(3),
        })
        .then_err(UserError::TotpCodeReused);
    let state = given::<UserAggregate>(totp_on())
        .when(UserCommand::UseTotpCode {
            step: 101,
            at: at(3),
        })
        .then([UserEvent::TotpCodeUsed {
            step: 101,
            at: at(3),
        }]);
    assert_eq!(present(state).totp.expect("totp").last_used_step, Some(101));
}

#[test]
fn a_recovery_code_is_used_up() {
    let state = given::<UserAggregate>(totp_on())
        .when(UserCommand::UseRecoveryCode {
            code_hash: hash(7),
            at: at(3),
        })
        .then([UserEvent::RecoveryCodeUsed {
            code_hash: hash(7),
            at: at(3),
        }]);
    assert_eq!(
        present(state).totp.expect("totp").recovery_codes,
        vec![hash(8)]
    );
    let used = with(
        totp_on(),
        [UserEvent::RecoveryCodeUsed {
            code_hash: hash(7),
            at: at(3),
        }],
    );
    given::<UserAggregate>(used)
        .when(UserCommand::UseRecoveryCode {
            code_hash: hash(7),
            at: at(4),
        })
        .then_err(UserError::InvalidRecoveryCode);
}

#[test]
fn disabling_totp_needs_it_on() {
    given::<UserAggregate>(enrolled())
        .when(UserCommand::DisableTotp { at: at(3) })
        .then_err(UserError::TotpNotEnrolled);
    let state = given::<UserAggregate>(totp_on())
        .when(UserCommand::DisableTotp { at: at(3) })
        .then([UserEvent::TotpDisabled { at: at(3) }]);
    assert!(!present(state).has_mfa());
}

// Profile picture

fn picture(extension: &str) -> Picture {
    Picture {
        key: format!("accounts/1/profile/picture.{extension}"),
        content_type: "image/png".into(),
        size: 42,
        sha256: "ab".repeat(32),
    }
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

#[test]
fn maintenance_discards_only_expired_tokens() {
    // The email token expires at minute 48, the phone code at 20.
    let history = with(history(), [code_sent(10)]);
    given::<UserAggregate>(history.clone())
        .when(UserCommand::DiscardExpiredTokens { at: at(5) })
        .then([]);
    let state = given::<UserAggregate>(history.clone())
        .when(UserCommand::DiscardExpiredTokens { at: at(30) })
        .then([UserEvent::ExpiredTokensDiscarded {
            email_verification: false,
            phone_verification: true,
            password_reset: false,
            at: at(30),
        }]);
    let user = present(state);
    assert!(user.phone_verification.is_none());
    assert!(user.email_verification.is_some());
    given::<UserAggregate>(history)
        .when(UserCommand::DiscardExpiredTokens { at: at(60) })
        .then([UserEvent::ExpiredTokensDiscarded {
            email_verification: true,
            phone_verification: true,
            password_reset: false,
            at: at(60),
        }]);
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

#[test]
fn the_forgotten_event_type_constant_names_the_event() {
    use crate::DomainEvent;
    assert_eq!(
        UserEvent::UserForgotten { at: at(1) }.event_type(),
        USER_FORGOTTEN
    );
}
