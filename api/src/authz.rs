//! A request's caller as the application policy sees them, and its refusals as problem+json.
//!
//! Handlers never decide who may do what: they build an [`Authority`] for the caller, describe
//! the target, and ask [`application::policy::authorize`] through [`Authority::require`].

use crate::AppState;
use crate::auth::current::Caller;
use crate::error::command_problem;
use crate::problem::Problem;
use crate::routes::organizations::organization_problem;
use application::policy::{self, Actor, GlobalRole, Operation, Person, Refusal, Target, UserActor};
use axum::http::StatusCode;
use domain::organization::{Organization, OrganizationAggregate, OrganizationState};
use domain::user::{User, UserState};
use domain::{OrganizationId, UserId};
use secrecy::SecretString;
use std::collections::BTreeMap;

/// The caller's rights: who they are to the policy, and the organizations they belong to (which
/// tell their members' roles).
#[derive(Debug, Clone)]
pub struct Authority {
    actor: Actor,
    organizations: Vec<Organization>,
}

impl Authority {
    /// The rights of a signed-in caller, their memberships confirmed against each organization.
    pub async fn of(state: &AppState, caller: &Caller) -> Result<Self, Problem> {
        let mut organizations = Vec::new();
        let mut memberships = BTreeMap::new();
        for id in &caller.user.organizations {
            let loaded = state
                .commands
                .followed::<OrganizationAggregate>(&id.to_string())
                .await
                .map_err(|error| command_problem(error, organization_problem))?;
            if let OrganizationState::Present(organization) = loaded.state
                && let Some(membership) = organization.members.get(&caller.user.id)
            {
                memberships.insert(organization.id, membership.role);
                organizations.push(*organization);
            }
        }
        let roles = caller
            .user
            .roles
            .iter()
            .filter_map(|role| role.as_str().parse::<GlobalRole>().ok())
            .collect();
        let fresh =
            chrono::Utc::now() < caller.session.session.started_at + state.auth.reauth_window;
        Ok(Self {
            actor: Actor::User(UserActor {
                id: caller.user.id,
                roles,
                memberships,
                fresh,
            }),
            organizations,
        })
    }

    /// Who is asking, to the policy.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Checks the password the caller sent (at `pointer` in the body) against their own,
    /// counted against their account like a login; when it matches, the caller has a fresh
    /// proof of who they are for this request.
    pub async fn confirm_password(
        &mut self,
        state: &AppState,
        caller: &Caller,
        password: Option<SecretString>,
        pointer: &str,
    ) -> Result<(), Problem> {
        let wrong = || {
            Problem::new(
                StatusCode::FORBIDDEN,
                "wrong-password",
                "The password is wrong",
            )
            .with_field(pointer, "is not your current password")
        };
        let password = password.ok_or_else(wrong)?;
        state
            .rate_limits
            .login_per_account
            .check(caller.user.email.as_str())?;
        let matches = state
            .passwords
            .verify(password, caller.user.password_hash.as_ref())
            .await
            .map_err(|error| Problem::internal(&error))?;
        if !matches {
            return Err(wrong());
        }
        if let Actor::User(user) = &mut self.actor {
            user.fresh = true;
        }
        Ok(())
    }

    /// `user` as the policy sees them: privileged or not, and their memberships in the
    /// caller's organizations (the only ones that can grant the caller anything over them).
    pub fn person(&self, state: &AppState, user: &User) -> Person {
        Person {
            privileged: state.auth.roles.any_privileged(user.roles.iter()),
            ..self.person_without_roles(user.id)
        }
    }

    /// The person whose stream `state` is: as [`Self::person`] while they are present; once
    /// forgotten (or never there), only their id is left and they hold no role.
    pub fn person_in(&self, state: &AppState, id: UserId, user: &UserState) -> Person {
        match user {
            UserState::Present(user) => self.person(state, user),
            _ => self.person_without_roles(id),
        }
    }

    /// A person who holds no global role (one forgotten: nothing but the id is left).
    pub fn person_without_roles(&self, id: UserId) -> Person {
        Person {
            id,
            privileged: false,
            memberships: self
                .organizations
                .iter()
                .filter_map(|organization| {
                    let membership = organization.members.get(&id)?;
                    Some((organization.id, membership.role))
                })
                .collect(),
        }
    }

    /// The organizations the caller belongs to.
    pub fn organizations(&self) -> impl Iterator<Item = OrganizationId> + '_ {
        self.organizations
            .iter()
            .map(|organization| organization.id)
    }

    /// Whether the policy allows `operation` on `target`.
    pub fn allows(&self, operation: Operation, target: Target<'_>) -> bool {
        policy::allows(&self.actor, operation, target)
    }

    /// `operation` on `target` if the policy allows it; otherwise the refusal as problem+json,
    /// with `not_found` as the answer when the caller may not know the target exists.
    pub fn require(
        &self,
        operation: Operation,
        target: Target<'_>,
        not_found: impl FnOnce() -> Problem,
    ) -> Result<(), Problem> {
        policy::authorize(&self.actor, operation, target)
            .map_err(|refusal| refusal_problem(refusal, operation, not_found))
    }
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
        "lockout" => &[O::ReadLockout],
        "get_profile" | "get_picture" => &[O::ReadProfile],
        "put_profile" | "put_picture" | "delete_picture" => &[O::ChangeProfile],
        "create_organization" => &[O::CreateOrganization],
        "get_organization" | "members" => &[O::ReadOrganization],
        "update_organization" => &[
            O::ChangeOrganizationDetails,
            O::RenameOrganization,
            O::ChangeOrganizationStatus,
        ],
        "add_member_route" => &[O::AddMember],
        "change_member" => &[O::ChangeMember],
        "remove_member" => &[O::RemoveMember],
        "invite_member" => &[O::InviteMember, O::CreateUser],
        "list_invitations" => &[O::ListInvitations],
        "revoke_invitation" => &[O::RevokeInvitation],
        "own_invitations" => &[O::ListOwnInvitations],
        "accept_invitation" | "decline_invitation" => &[O::AnswerInvitation],
        "users" | "search_users" => &[O::ListUsers],
        "user_sessions" => &[O::ReadUserSessions],
        "user_activity" => &[O::ReadUserActivity],
        "activity" => &[O::ListActivity],
        "dashboard" | "organization_dashboard" | "daily" | "verification_funnel" => {
            &[O::ReadAnalytics]
        }
        "organizations" => &[O::ListOrganizations],
        "verify_storage" | "rebuild_storage" | "deliveries" => &[O::ManageStorage],
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
