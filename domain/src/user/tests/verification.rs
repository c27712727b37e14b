//! Verifying the email address and phone number; expired tokens.

use super::*;

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
            by_hand: None,
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
        by_hand: None,
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
            by_hand: None,
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

#[test]
fn refuses_to_send_a_verification_for_an_email_already_verified() {
    let verified = UserEvent::EmailVerified {
        email: email("ann@example.com").into(),
        by_hand: None,
        at: at(2),
    };
    given::<UserAggregate>(with(history(), [verified]))
        .when(UserCommand::RequestEmailVerification {
            token: token(5, 3, 50),
        })
        .then_err(UserError::EmailAlreadyVerified);
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
