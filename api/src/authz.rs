//! The application's answers as problem+json: each [`AppError`] maps to one problem here, so
//! every handler answers the same refusal the same way.

use crate::error::{command_problem, user_problem};
use crate::problem::Problem;
use crate::routes::organizations::organization_problem;
use application::authority::Authority;
use application::policy::{Operation, Refusal, Target};
use application::{AppError, Resource};
use axum::http::StatusCode;

/// "Not found" for `resource`.
pub fn not_found(resource: Resource) -> Problem {
    match resource {
        Resource::User => Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user"),
        Resource::Organization => Problem::new(
            StatusCode::NOT_FOUND,
            "organization-not-found",
            "No such organization",
        ),
        Resource::Session => Problem::new(
            StatusCode::NOT_FOUND,
            "session-not-found",
            "No such session",
        ),
        Resource::Invitation => {
            organization_problem(domain::organization::OrganizationError::NoInvitation)
        }
        Resource::Member => {
            organization_problem(domain::organization::OrganizationError::NotAMember)
        }
        Resource::Picture => {
            Problem::new(StatusCode::NOT_FOUND, "no-picture", "No profile picture")
        }
        Resource::ApiKey => organization_problem(domain::organization::OrganizationError::NoApiKey),
        Resource::PartnerAction => {
            Problem::new(StatusCode::NOT_FOUND, "action-not-found", "No such action")
        }
        Resource::IpBlock => {
            Problem::new(StatusCode::NOT_FOUND, "ip-block-not-found", "No such block")
                .with_detail("The address or range is not blocked.")
        }
        Resource::Role => Problem::new(StatusCode::NOT_FOUND, "role-not-found", "No such role")
            .with_detail("The catalog does not have this role."),
        Resource::Anything => Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found"),
    }
}

impl From<AppError> for Problem {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Refused {
                refusal,
                operation,
                resource,
            } => refusal_problem(refusal, operation, || not_found(resource)),
            AppError::NotFound(resource) => not_found(resource),
            AppError::User(error) => command_problem(error, user_problem),
            AppError::Organization(error) => command_problem(error, organization_problem),
            AppError::Session(error) => command_problem(error, session_problem),
            AppError::Catalog(error) => command_problem(error, |error| match error {
                domain::catalog::CatalogError::AlreadyDefined => Problem::new(
                    StatusCode::CONFLICT,
                    "permission-defined",
                    "The permission flag is defined already",
                ),
                domain::catalog::CatalogError::NotDefined => Problem::new(
                    StatusCode::NOT_FOUND,
                    "permission-not-found",
                    "No such permission flag",
                )
                .with_detail("The catalog does not have this flag, or it is retired already."),
            }),
            AppError::PartnerActions(error) => command_problem(error, |error| {
                use domain::partner::ActionCatalogError as E;
                let (status, slug) = match error {
                    E::BuiltIn => (StatusCode::CONFLICT, "action-built-in"),
                    E::AlreadyDefined => (StatusCode::CONFLICT, "action-defined"),
                    E::NotDefined => (StatusCode::NOT_FOUND, "action-not-found"),
                };
                Problem::new(status, slug, &error.to_string())
            }),
            AppError::PartnerRecord(error) => command_problem(error, |error| match error {
                domain::partner::RecordError::StatusNeeded => {
                    Problem::validation().with_field("/status", "a transaction is ok or error")
                }
                domain::partner::RecordError::AlreadyRecorded => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "The Idempotency-Key was used for another request",
                )
                .with_detail("The partner recorded another record with this key."),
            }),
            AppError::RoleNotInCatalog { role, catalog } => Problem::validation().with_field(
                "/roles",
                format!("{role}: unknown; one of {}", catalog.join(", ")),
            ),
            AppError::RoleCatalog(error) => command_problem(error, |error| {
                use domain::role_catalog::RoleCatalogError as E;
                let (status, slug) = match &error {
                    E::AlreadyDefined => (StatusCode::CONFLICT, "role-defined"),
                    E::NotDefined => (StatusCode::NOT_FOUND, "role-not-found"),
                    E::BuiltIn => (StatusCode::CONFLICT, "role-built-in"),
                    E::InvalidFields(detail) => {
                        return Problem::validation().with_field("/fields", detail.clone());
                    }
                };
                Problem::new(status, slug, &error.to_string())
            }),
            AppError::NotGrantable { flag, catalog } => Problem::validation().with_field(
                "/permissions",
                format!("{flag}: unknown; one of {}", catalog.join(", ")),
            ),
            AppError::Invalid(error) => error.into(),
            AppError::Picture(error) => picture_problem(&error),
            AppError::Unanswerable(detail) => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                "The query cannot be answered",
            )
            .with_detail(detail),
            AppError::NoSuchPosition { head: None, max } => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-min-position",
                "No such log position",
            )
            .with_detail(format!("Log positions go up to {max}.")),
            AppError::NoSuchPosition {
                head: Some(head), ..
            } => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-min-position",
                "No such log position yet",
            )
            .with_detail(format!(
                "The log ends at position {head}; min_position takes a position a command answered with."
            )),
            AppError::ReadModelBehind { position } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read-model-behind",
                "The read models have not caught up yet",
            )
            .with_detail(format!(
                "Position {position} is not applied yet; try again shortly."
            ))
            .with_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            ),
            AppError::NotThen => not_found(Resource::User)
                .with_detail("The user did not exist at that point of the log."),
            AppError::Malformed(detail) => Problem::validation().with_detail(detail),
            AppError::NotNow(detail) => {
                Problem::new(StatusCode::CONFLICT, "not-now", "Not possible now").with_detail(detail)
            }
            AppError::InvalidQuery { field, message } => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
                    .with_field(field, message)
            }
            AppError::Password { field, rejection } => {
                Problem::validation().with_field(field, rejection.to_string())
            }
            AppError::WrongPassword { field } => Problem::new(
                StatusCode::FORBIDDEN,
                "wrong-password",
                "The password is wrong",
            )
            .with_field(field, "is not your current password"),
            AppError::RateLimited(limited) => {
                Problem::too_many_requests(limited.retry_after_seconds)
            }
            AppError::InvalidCredentials => invalid_credentials(),
            AppError::Unknown { field, resource } => {
                Problem::validation().with_field(field, format!("no such {resource}"))
            }
            AppError::PasswordNotYours => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed",
            )
            .with_field(
                "/password",
                "an org_admin creates accounts as invitations: the person sets their own password",
            ),
            AppError::InvitationLapsed => Problem::new(
                StatusCode::GONE,
                "invitation-expired",
                "The invitation lapsed",
            )
            .with_detail("Ask the organization to invite you again."),
            AppError::WrongPhoneCode { attempts_left } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-code",
                "Wrong code",
            )
            .with_detail(format!(
                "{attempts_left} attempts left before a new code is needed."
            ))
            .with_field("/code", "is not the code that was sent"),
            AppError::WrongCode => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-code",
                "Wrong code",
            )
            .with_field("/code", "is not the current code of the authenticator"),
            AppError::OrganizationOutOfService(status) => Problem::new(
                StatusCode::FORBIDDEN,
                &format!("organization-{status}"),
                "Organization not in service",
            )
            .with_detail(format!(
                "Your organization is {status}; its members cannot log in."
            )),
            // No wallet command carries If-Match: a conflict is one that kept losing to other
            // processes' commands on the wallet.
            AppError::Wallet(commands::CommandError::Conflict { .. }) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "wallet-busy",
                "The wallet is busy",
            )
            .with_detail("Other changes of this wallet kept coming first; try again.")
            .with_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            ),
            AppError::Wallet(error) => command_problem(error, |error| {
                use domain::wallet::WalletError as E;
                match error {
                    E::NoWallet => Problem::new(
                        StatusCode::NOT_FOUND,
                        "wallet-not-found",
                        "No wallet",
                    )
                    .with_detail("The user's wallet is not open yet."),
                    E::InvalidAmount => {
                        Problem::validation().with_field("/amount", error.to_string())
                    }
                    E::InsufficientFunds { .. } => Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "insufficient-funds",
                        "Insufficient funds",
                    )
                    .with_detail(error.to_string()),
                    E::BalanceLimit => Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "balance-limit",
                        "Balance limit",
                    )
                    .with_detail(error.to_string()),
                    E::Frozen => Problem::new(
                        StatusCode::CONFLICT,
                        "wallet-frozen",
                        "The wallet is frozen",
                    )
                    .with_detail("Unfreeze it before crediting or debiting it."),
                }
            }),
            AppError::IdempotencyKeyRequired => Problem::new(
                StatusCode::BAD_REQUEST,
                "idempotency-key-required",
                "Idempotency-Key required",
            )
            .with_detail(
                "Credits and debits are made with an Idempotency-Key header, so that a retry \
                 moves credits once.",
            ),
            AppError::AddressBlocked => Problem::new(
                StatusCode::FORBIDDEN,
                "address-blocked",
                "Address blocked",
            )
            .with_detail(
                "Requests from your network address are blocked. If you think this is a mistake, \
                 contact the administrators.",
            ),
            AppError::IpBlocks(error) => command_problem(error, |error| {
                use domain::ip_block::IpBlockError as E;
                match error {
                    E::ExpiryPassed => {
                        Problem::validation().with_field("/expires_at", error.to_string())
                    }
                    E::ListFull => Problem::new(
                        StatusCode::CONFLICT,
                        "ip-block-list-full",
                        "The block list is full",
                    )
                    .with_detail(error.to_string()),
                    E::NotBlocked => not_found(Resource::IpBlock),
                }
            }),
            AppError::InvalidToken => Problem::invalid_token(),
            AppError::Unavailable(detail) => Problem::unavailable(&detail),
            AppError::Internal(error) => Problem::internal(error.as_ref()),
        }
    }
}

impl From<application::rate_limit::RateLimited> for Problem {
    fn from(limited: application::rate_limit::RateLimited) -> Self {
        AppError::from(limited).into()
    }
}

/// `require` with an answer of its own for a refused target the caller may not know of, for
/// operations whose "not found" is not a missing resource (an expired session, an invalid
/// field).
pub trait RequireOr {
    /// `operation` on `target` if the policy allows it; otherwise the refusal, with
    /// `not_found` as the answer for a target the caller may not know exists.
    fn require_or(
        &self,
        operation: Operation,
        target: Target<'_>,
        not_found: impl FnOnce() -> Problem,
    ) -> Result<(), Problem>;
}

impl RequireOr for Authority {
    fn require_or(
        &self,
        operation: Operation,
        target: Target<'_>,
        not_found: impl FnOnce() -> Problem,
    ) -> Result<(), Problem> {
        application::policy::authorize(self.actor(), operation, target)
            .map_err(|refusal| refusal_problem(refusal, operation, not_found))
    }
}

/// The answers to a refused session command. Every one means "this token no longer works".
pub fn session_problem(error: domain::session::SessionError) -> Problem {
    tracing::info!(%error, "session refused");
    Problem::invalid_token()
}

/// The answer to an upload that is not a picture idlog takes.
fn picture_problem(error: &application::pictures::PictureError) -> Problem {
    use application::pictures::PictureError;
    match error {
        PictureError::Unsupported => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-image",
            "Not a supported image",
        )
        .with_detail("Send a PNG, JPEG or WebP image as the body."),
        PictureError::TooLarge { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "image-too-large",
            "The image has too many pixels",
        )
        .with_detail(error.to_string()),
        PictureError::Broken(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "broken-image",
            "The image does not decode",
        )
        .with_detail(error.to_string()),
    }
}

/// The one answer to every failed login, whatever failed.
pub fn invalid_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "Invalid credentials",
    )
    .with_detail("The login or password is wrong, or the account cannot log in now.")
}

/// A refusal as the caller may see it.
pub fn refusal_problem(
    refusal: Refusal,
    operation: Operation,
    not_found: impl FnOnce() -> Problem,
) -> Problem {
    match refusal {
        Refusal::NotFound => not_found(),
        Refusal::SignInRequired => Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication required",
        ),
        Refusal::Forbidden => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed")
            .with_detail(format!("The caller may not {}.", describe(operation))),
        Refusal::FreshProofRequired => Problem::new(
            StatusCode::FORBIDDEN,
            "reauthentication-required",
            "Confirm it is you",
        )
        .with_detail(
            "Changing your own email, phone or password needs your current password \
             (current_password) or a sign-in within the last few minutes.",
        ),
    }
}

/// An operation's name as words ("change_email" -> "change email").
fn describe(operation: Operation) -> String {
    operation.to_string().replace('_', " ")
}

/// The policy operations a REST operation (by its OpenAPI `operationId`) asks for; `None` for
/// an operation the policy does not know, which the coverage test refuses.
pub fn route_operations(operation_id: &str) -> Option<&'static [Operation]> {
    use Operation as O;
    Some(match operation_id {
        "health" | "ready" => &[O::ReadHealth],
        "render" => &[O::ReadMetrics],
        "register" => &[O::Register],
        "login" | "login_mfa" => &[O::SignIn],
        "refresh" => &[O::RefreshSession],
        "logout" => &[O::SignOut],
        "logout_all" => &[O::SignOutEverywhere],
        "me" => &[O::ReadOwnAccount],
        "change_password" => &[O::ChangeOwnPassword],
        "forgot_password" => &[O::ForgotPassword],
        "reset_password" => &[O::ResetPassword],
        "list_sessions" => &[O::ListOwnSessions],
        "delete_session" => &[O::EndOwnSession],
        "introspect" => &[O::IntrospectToken],
        "jwks" => &[O::ReadPublicKeys],
        "enroll" => &[O::EnrollMfa],
        "confirm" => &[O::ConfirmMfa],
        "disable" => &[O::DisableMfa],
        "send_email_verification" => &[O::SendEmailVerification],
        "verify_email_post" | "verify_email_link" => &[O::VerifyEmail],
        "send_phone_code" => &[O::SendPhoneCode],
        "verify_phone" => &[O::VerifyPhone],
        "create_user" => &[O::CreateUser, O::ChangeRoles, O::AddMember],
        "get_user" => &[O::ReadUser, O::ReadUserHistory],
        "update_user" => &[
            O::ChangeNames,
            O::ChangeUsername,
            O::ChangeEmail,
            O::ChangePhone,
            O::ChangeRoles,
        ],
        "lock_user" => &[O::LockUser],
        "unlock_user" => &[O::UnlockUser],
        "deactivate_user" => &[O::DeactivateUser],
        "reactivate_user" => &[O::ReactivateUser],
        "delete_user" => &[O::DeleteUser],
        "forget_user" => &[O::ForgetUser],
        "export_user" => &[O::ExportUser],
        "send_password_reset" => &[O::SendPasswordReset],
        "set_password" => &[O::SetPassword],
        "get_me" => &[O::ReadUser, O::ReadUserHistory],
        "update_me" => &[
            O::ChangeNames,
            O::ChangeUsername,
            O::ChangeEmail,
            O::ChangePhone,
            O::ChangeRoles,
        ],
        "restore_user" => &[O::RestoreUser],
        "verify_email_by_hand" | "verify_phone_by_hand" => &[O::VerifyByHand],
        "lockout" => &[O::ReadLockout],
        "get_profile" | "get_picture" => &[O::ReadProfile],
        "put_profile" | "put_picture" | "delete_picture" => &[O::ChangeProfile],
        "create_organization" => &[O::CreateOrganization, O::ChangePartnerDetails],
        "get_organization" | "members" => &[O::ReadOrganization],
        "update_organization" => &[
            O::ChangeOrganizationDetails,
            O::RenameOrganization,
            O::ChangeOrganizationStatus,
            O::ChangePartnerDetails,
        ],
        "partner" => &[O::ReadOrganization],
        "permissions" => &[O::ReadPermissionCatalog],
        "define_permission" | "retire_permission" => &[O::ManagePermissionCatalog],
        "ip_blocks" => &[O::ReadIpBlocks],
        "wallet" | "wallet_history" => &[O::ReadWallet],
        "credit_wallet" | "debit_wallet" | "freeze_wallet" | "unfreeze_wallet" => {
            &[O::ManageWallet]
        }
        "block_ip" | "unblock_ip" => &[O::ManageIpBlocks],
        "roles" => &[O::ReadRoleCatalog],
        "define_role" | "change_role" | "retire_role" => &[O::ManageRoleCatalog],
        "set_role_profile" => &[O::SetRoleProfile],
        // Profile fields filter (and show) for those who may read role profiles.
        "role_holders" => &[O::ListUsers, O::ReadRoleProfile],
        "add_member_route" => &[O::AddMember],
        "change_member" => &[O::ChangeMember],
        "remove_member" => &[O::RemoveMember],
        "invite_member" => &[O::InviteMember, O::CreateUser],
        "list_invitations" => &[O::ListInvitations],
        "list_api_keys" => &[O::ListApiKeys],
        "record_activity" => &[O::RecordSentActivity, O::RecordReceivedActivity],
        "list_activity" => &[O::ReadTransactions, O::ReadFileTransfers],
        "partner_figures" | "transactions" => &[O::ReadTransactions],
        "actions" => &[O::ReadPartnerActions],
        "define_action" | "retire_action" => &[O::ManagePartnerActions],
        "create_api_key" => &[O::CreateApiKey],
        "revoke_api_key" => &[O::RevokeApiKey],
        "revoke_invitation" => &[O::RevokeInvitation],
        "own_invitations" => &[O::ListOwnInvitations],
        "accept_invitation" | "decline_invitation" => &[O::AnswerInvitation],
        "users" | "search_users" => &[O::ListUsers, O::ReadRoleProfile],
        "user_sessions" => &[O::ReadUserSessions],
        "revoke_user_session" => &[O::RevokeUserSession],
        "user_activity" => &[O::ReadUserActivity],
        "notifications" => &[O::ReadNotifications],
        "devices" => &[O::ReadDevices],
        "activity" => &[O::ListActivity],
        "dashboard" | "organization_dashboard" | "daily" | "verification_funnel" => {
            &[O::ReadAnalytics]
        }
        "organizations" => &[O::ListOrganizations],
        "verify_storage" | "rebuild_storage" | "deliveries" => &[O::ManageStorage],
        "processing" => &[O::ReadProcessing],
        "retry_read_model" | "skip_read_model" | "retry_worker_letters" => &[O::ResolveDeadLetters],
        "user_history" => &[O::ReadUserHistory],
        "events" | "verify" | "checkpoints" => &[O::ReadAuditLog],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;
    use utoipa::OpenApi;

    fn operation_ids() -> Vec<String> {
        let document = crate::openapi::ApiDoc::openapi();
        let mut ids = Vec::new();
        for item in document.paths.paths.values() {
            for operation in [
                &item.get,
                &item.put,
                &item.post,
                &item.delete,
                &item.patch,
                &item.head,
                &item.options,
                &item.trace,
            ]
            .into_iter()
            .flatten()
            {
                ids.push(operation.operation_id.clone().unwrap_or_default());
            }
        }
        ids
    }

    #[test]
    fn too_many_requests_answer_429_with_when_to_retry() {
        let problem = Problem::from(AppError::from(application::rate_limit::RateLimited {
            retry_after_seconds: 7,
        }));
        assert_eq!(problem.status, 429);
        let headers = problem.headers.expect("headers");
        assert_eq!(headers["retry-after"], "7");
    }

    #[test]
    fn every_documented_operation_is_authorized_by_operations_of_the_policy() {
        let ids = operation_ids();
        assert!(
            ids.len() > 60,
            "the document lists {} operations",
            ids.len()
        );
        for id in &ids {
            assert!(
                route_operations(id).is_some_and(|operations| !operations.is_empty()),
                "{id} has no rows in the policy: add it to route_operations"
            );
        }
    }

    #[test]
    fn every_operation_of_the_policy_is_reachable_through_the_api() {
        let used: std::collections::BTreeSet<Operation> = operation_ids()
            .iter()
            .filter_map(|id| route_operations(id))
            .flatten()
            .copied()
            .collect();
        // Reading the OpenAPI document itself is public and undocumented.
        let unused: Vec<Operation> = Operation::iter()
            .filter(|operation| {
                !used.contains(operation) && *operation != Operation::ReadApiDocument
            })
            .collect();
        assert!(unused.is_empty(), "no route asks for {unused:?}");
    }
}
