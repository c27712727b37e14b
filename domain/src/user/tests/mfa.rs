//! The TOTP second factor.

use super::*;

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
