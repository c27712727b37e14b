//! Invitations: joining an organization takes the person's consent.
//!
//! An organization's `org_admin` (or an administrator) invites a person by user id or by email
//! (an address with no account gets one, with a link to set its password); the person hears of
//! it by email, and accepts or declines while signed in. Invitations lapse after
//! `auth.invitation_hours`; org_admins list and revoke their organization's pending ones.
//!
//! The invitee's stream is linked to the organization before the invitation is made (as before a
//! membership), so the person's own list never misses one; each link is confirmed against the
//! organization's stream.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{Idempotency, JsonCommand, RequestContext};
use crate::problem::{FieldErrors, Problem};
use crate::routes::organizations::{authorized_organization, permission_names};
use crate::routes::positioned;
use application::Resource;
use application::authority::Authority;
use application::invitations::{Invitee, Offer};
use application::policy::Operation;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::organization::{Invitation, OrgRole};
use domain::user::User;
use domain::values::Email;
use domain::{OrganizationId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A pending invitation, as its organization lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    organization_id: String,
    user_id: String,
    /// The invitee's address (absent once they were forgotten).
    email: Option<String>,
    #[schema(value_type = String, example = "member")]
    role: OrgRole,
    permissions: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    invited_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    expires_at: Timestamp,
}

impl InvitationView {
    fn new(
        organization_id: OrganizationId,
        user: Option<&User>,
        user_id: UserId,
        invitation: &Invitation,
    ) -> Self {
        Self {
            organization_id: organization_id.to_string(),
            user_id: user_id.to_string(),
            email: user.map(|user| user.email.to_string()),
            role: invitation.role,
            permissions: invitation
                .permissions
                .iter()
                .map(ToString::to_string)
                .collect(),
            invited_at: invitation.invited_at,
            expires_at: invitation.expires_at,
        }
    }
}

/// An invitation waiting for the caller's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnInvitationView {
    organization_id: String,
    name: String,
    display_name: Option<String>,
    #[schema(value_type = String, example = "member")]
    role: OrgRole,
    permissions: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    invited_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    expires_at: Timestamp,
}

/// `POST /organizations/{id}/invitations`: one of `user_id` and `email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// An existing user.
    user_id: Option<String>,
    /// An email address; one with no account gets an account and a link to set its password.
    #[schema(schema_with = crate::openapi::email_or_null)]
    email: Option<String>,
    /// `org_admin`, `member` (default) or `readonly`, once accepted.
    #[schema(schema_with = crate::openapi::org_role)]
    role: Option<OrgRole>,
    /// Permission flags from the catalog, once accepted.
    #[serde(default)]
    permissions: Vec<String>,
}

/// Invites a person to join the organization; they become a member when they accept
/// (administrators and the organization's org_admins).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/invitations", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")), request_body = InviteRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Invited; the person is told by email", body = InvitationView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member, or an invitation waits already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or no such user", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn invite_member(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    command: JsonCommand<InviteRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    // Who may not invite hears so before anything is said about the fields.
    let (organization, _) =
        authorized_organization(&state, &authority, &id, Operation::InviteMember).await?;
    let body = command.body;
    let mut fields = FieldErrors::default();
    let permissions = permission_names(&mut fields, &body.permissions);
    let email = body
        .email
        .as_deref()
        .and_then(|raw| fields.parse(raw, Email::parse, "/email"));
    fields.finish()?;
    let invitee = match (body.user_id, email) {
        (Some(id), None) => Invitee::User {
            id,
            field: "/user_id",
        },
        (None, Some(email)) => Invitee::Email(email),
        _ => {
            return Err(Problem::validation()
                .with_field("/user_id", "send either user_id or email")
                .with_field("/email", "send either user_id or email"));
        }
    };
    let offer = Offer {
        role: body.role.unwrap_or(OrgRole::Member),
        permissions,
    };
    let (user, invitation, position) = state
        .invite_member(&authority, &context, organization.id, invitee, offer)
        .await?;
    let view = InvitationView::new(organization.id, Some(&user), user.id, &invitation);
    Ok((StatusCode::CREATED, positioned(position), axum::Json(view)).into_response())
}

/// An organization's invitations waiting for an answer (administrators and its org_admins).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/invitations", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending invitations", body = Vec<InvitationView>),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn list_invitations(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<InvitationView>>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let id: OrganizationId = id
        .parse()
        .map_err(|_| crate::authz::not_found(Resource::Organization))?;
    let views = state
        .invitations(&authority, id)
        .await?
        .iter()
        .map(|listed| {
            InvitationView::new(
                id,
                listed.user.as_deref(),
                listed.user_id,
                &listed.invitation,
            )
        })
        .collect();
    Ok(axum::Json(views))
}

/// Withdraws a pending invitation (administrators and the organization's org_admins).
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/invitations/{user_id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "The invitee's user id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or pending invitation", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let (organization, _) =
        authorized_organization(&state, &authority, &id, Operation::RevokeInvitation).await?;
    let user_id: UserId = user_id
        .parse()
        .map_err(|_| crate::authz::not_found(Resource::Invitation))?;
    let position = state
        .revoke_invitation(&authority, &context, organization.id, user_id, idempotency)
        .await?;
    Ok((StatusCode::NO_CONTENT, positioned(position)).into_response())
}

/// The invitations waiting for the caller's answer.
#[utoipa::path(get, path = "/api/v1/auth/invitations", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending invitations", body = Vec<OwnInvitationView>),
        crate::openapi::AuthErrors,
    ))]
#[tracing::instrument(skip_all)]
pub async fn own_invitations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<OwnInvitationView>>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let views = state
        .own_invitations(&authority)
        .await?
        .into_iter()
        .map(|(organization, invitation)| OwnInvitationView {
            organization_id: organization.id.to_string(),
            name: organization.name.to_string(),
            display_name: organization.display_name.as_ref().map(ToString::to_string),
            role: invitation.role,
            permissions: invitation
                .permissions
                .iter()
                .map(ToString::to_string)
                .collect(),
            invited_at: invitation.invited_at,
            expires_at: invitation.expires_at,
        })
        .collect();
    Ok(axum::Json(views))
}

/// Accepts an invitation: the caller becomes a member with the role offered.
#[utoipa::path(post, path = "/api/v1/auth/invitations/{organization_id}/accept", tag = "auth",
    params(("organization_id" = String, Path, description = "The inviting organization")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Accepted: the caller is a member"),
        crate::openapi::AuthErrors,
        (status = 404, description = "No pending invitation from that organization", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The invitation lapsed", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn accept_invitation(
    state: State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(organization_id): Path<String>,
) -> Result<Response, Problem> {
    answer(state, context, caller, organization_id, true).await
}

/// Declines an invitation.
#[utoipa::path(post, path = "/api/v1/auth/invitations/{organization_id}/decline", tag = "auth",
    params(("organization_id" = String, Path, description = "The inviting organization")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Declined"),
        crate::openapi::AuthErrors,
        (status = 404, description = "No pending invitation from that organization", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The invitation lapsed", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn decline_invitation(
    state: State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(organization_id): Path<String>,
) -> Result<Response, Problem> {
    answer(state, context, caller, organization_id, false).await
}

async fn answer(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    organization_id: String,
    accept: bool,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let id: OrganizationId = organization_id
        .parse()
        .map_err(|_| crate::authz::not_found(Resource::Invitation))?;
    let position = state
        .answer_invitation(&authority, &context, id, accept)
        .await?;
    Ok((StatusCode::NO_CONTENT, positioned(position)).into_response())
}
