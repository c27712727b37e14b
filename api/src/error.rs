//! How command outcomes become HTTP problems.

use crate::problem::Problem;
use axum::http::StatusCode;
use commands::CommandError;
use domain::user::UserError;
use domain::values::InvalidValue;

impl From<InvalidValue> for Problem {
    fn from(error: InvalidValue) -> Self {
        Problem::validation().with_field(format!("/{}", error.field), error.message)
    }
}

impl Problem {
    /// 422 with field errors to be added.
    pub fn validation() -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "The request has invalid fields",
        )
    }
}

/// Maps the failures every command shares; `rejected` maps the aggregate's own refusals.
pub fn command_problem<E: std::error::Error>(
    error: CommandError<E>,
    rejected: impl FnOnce(E) -> Problem,
) -> Problem {
    match error {
        CommandError::Rejected(error) => rejected(error),
        CommandError::Conflict { expected, actual } => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "version-mismatch",
            "The resource has changed",
        )
        .with_detail(format!(
            "Expected version {expected}, it is at {actual}. Read it again and retry."
        )),
        CommandError::Duplicate { kind } => {
            // Where the taken value was sent.
            let field = match kind.as_str() {
                "partner_code" => "partner/code".to_owned(),
                "interchange_pair" => "partner/receiver_id".to_owned(),
                _ => kind.clone(),
            };
            Problem::new(
                StatusCode::CONFLICT,
                &format!("{}-taken", kind.replace('_', "-")),
                "Already taken",
            )
            .with_field(
                format!("/{field}"),
                format!("this {} is already in use", kind.replace('_', " ")),
            )
        }
        CommandError::IdempotencyKeyReused => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "The Idempotency-Key was used for another request",
        ),
        CommandError::Invalid(message) => Problem::validation().with_detail(message),
        CommandError::OtherKind { expected } => Problem::new(
            StatusCode::NOT_FOUND,
            &format!("{expected}-not-found"),
            "Not found",
        )
        .with_detail(format!("No {expected} has this id.")),
        CommandError::Corrupt { .. } | CommandError::Store(_) => Problem::internal(&error),
    }
}

/// The answers to a refused user command: a status and a stable problem type per refusal.
pub fn user_problem(error: UserError) -> Problem {
    use StatusCode as S;
    if let UserError::InvalidRoleProfile(problems) = &error {
        return problems
            .iter()
            .fold(Problem::validation(), |problem, (field, detail)| {
                problem.with_field(format!("/profile/{field}"), detail.clone())
            });
    }
    let (status, slug) = match &error {
        UserError::NotFound | UserError::Deleted | UserError::Forgotten => {
            (S::NOT_FOUND, "user-not-found")
        }
        UserError::AlreadyExists => (S::CONFLICT, "user-exists"),
        UserError::Deactivated => (S::CONFLICT, "account-deactivated"),
        UserError::NotDeactivated => (S::CONFLICT, "account-not-deactivated"),
        UserError::NotDeleted => (S::CONFLICT, "user-not-deleted"),
        UserError::RestoreWindowPassed => (S::GONE, "restore-window-passed"),
        UserError::Locked { .. } => (S::CONFLICT, "account-locked"),
        UserError::NotLocked => (S::CONFLICT, "account-not-locked"),
        UserError::EmailAlreadyVerified => (S::CONFLICT, "email-already-verified"),
        UserError::PhoneAlreadyVerified => (S::CONFLICT, "phone-already-verified"),
        UserError::TooSoon { .. } => (S::TOO_MANY_REQUESTS, "too-soon"),
        UserError::LockEndsInPast => (S::UNPROCESSABLE_ENTITY, "lock-ends-in-past"),
        UserError::NoPassword => (S::UNPROCESSABLE_ENTITY, "no-password"),
        UserError::PasswordChangeRequired => (S::FORBIDDEN, "password-change-required"),
        UserError::NoPasswordChangeRequired => (S::CONFLICT, "no-password-change-required"),
        UserError::NoPhoneNumber => (S::UNPROCESSABLE_ENTITY, "no-phone-number"),
        UserError::NothingToVerify => (S::UNPROCESSABLE_ENTITY, "nothing-to-verify"),
        UserError::InvalidToken => (S::UNPROCESSABLE_ENTITY, "invalid-token"),
        UserError::TokenExpired => (S::UNPROCESSABLE_ENTITY, "token-expired"),
        UserError::TooManyAttempts => (S::UNPROCESSABLE_ENTITY, "too-many-attempts"),
        UserError::NoPicture => (S::NOT_FOUND, "no-picture"),
        UserError::TotpNotEnrolled => (S::CONFLICT, "mfa-not-set-up"),
        UserError::TotpAlreadyEnabled => (S::CONFLICT, "mfa-already-on"),
        UserError::TotpCodeReused => (S::UNPROCESSABLE_ENTITY, "code-already-used"),
        UserError::InvalidRecoveryCode => (S::UNPROCESSABLE_ENTITY, "invalid-recovery-code"),
        UserError::RoleNotHeld => (S::CONFLICT, "role-not-held"),
        UserError::InvalidRoleProfile(_) => (S::UNPROCESSABLE_ENTITY, "validation"),
    };
    let problem = Problem::new(status, slug, &error.to_string());
    match error {
        UserError::TooSoon {
            retry_after_seconds,
        } => problem.with_header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(retry_after_seconds.max(1)),
        ),
        _ => problem,
    }
}
