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
use crate::authz::RequireOr;
use crate::error::{command_problem, user_problem};
use crate::extract::{Idempotency, JsonCommand, RequestContext};
use crate::problem::{FieldErrors, Problem};
use crate::routes::auth::LOG_POSITION;
use crate::routes::organizations::{
    authorized_organization, catalog_permissions, existing_user, load_organization,
    organization_problem,
};
use application::Resource;
use application::accounts::{Creator, NewAccount};
use application::authority::Authority;
use application::policy::{Operation, Target};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use commands::CommandContext;
use domain::organization::{
    Invitation, OrgRole, Organization, OrganizationAggregate, OrganizationCommand,
    OrganizationError, OrganizationEvent,
};
use domain::user::{User, UserAggregate, UserCommand, UserState};
use domain::values::{Email, Permission};
use domain::{ClaimKind, OrganizationId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

fn invitation_not_found() -> Problem {
    organization_problem(OrganizationError::NoInvitation)
}

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
    invited_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
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
    invited_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
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

/// What an invitation offers.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The role.
    pub role: OrgRole,
    /// The permission flags.
    pub permissions: BTreeSet<Permission>,
}

/// Invites `user` to `organization`: links their stream (which tells them, by email), then
/// records the invitation. The caller is authorized already.
pub async fn invite(
    state: &AppState,
    metadata: eventstore::EventMetadata,
    organization: &Organization,
    user: &User,
    offer: Offer,
) -> Result<(Invitation, Option<u64>), Problem> {
    let now = chrono::Utc::now();
    // Checked before the person is told; the organization's stream decides again below.
    if organization.members.contains_key(&user.id) {
        return Err(organization_problem(OrganizationError::AlreadyMember));
    }
    if organization
        .invitations
        .get(&user.id)
        .is_some_and(|pending| pending.is_open(now))
    {
        return Err(organization_problem(OrganizationError::AlreadyInvited));
    }
    let expires_at = now + state.auth.invitation_lifetime;
    let note = UserCommand::NoteInvitation {
        organization_id: organization.id,
        organization_name: organization.name.clone(),
        expires_at,
        at: now,
    };
    state
        .commands
        .execute::<UserAggregate>(
            &user.id.to_string(),
            note,
            CommandContext {
                metadata: metadata.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    let command = OrganizationCommand::Invite {
        user_id: user.id,
        role: offer.role,
        permissions: offer.permissions,
        expires_at,
        at: now,
    };
    let executed = state
        .commands
        .execute::<OrganizationAggregate>(
            &organization.id.to_string(),
            command,
            CommandContext {
                metadata,
                data_subject: Some(organization.id.to_string()),
                ..Default::default()
            },
        )
        .await
        .map_err(|error| command_problem(error, organization_problem))?;
    let domain::organization::OrganizationState::Present(after) = &executed.state else {
        return Err(invitation_not_found());
    };
    let invitation = after
        .invitations
        .get(&user.id)
        .cloned()
        .ok_or_else(invitation_not_found)?;
    Ok((invitation, executed.position))
}

/// The user with `email`, or a new account for it (with an emailed link to set its password).
pub async fn user_for_invitation(
    state: &AppState,
    metadata: eventstore::EventMetadata,
    email: Email,
) -> Result<Box<User>, Problem> {
    let owner = state
        .commands
        .find_owner(ClaimKind::Email, email.as_str())
        .await
        .map_err(|error| Problem::internal(&error))?;
    if let Some(owner) = owner {
        return existing_user(state, &owner, "/email").await;
    }
    let creator = Creator {
        commands: &state.commands,
        passwords: &state.passwords,
        tokens: &state.tokens,
        invitation_lifetime: state.auth.invitation_lifetime,
    };
    let account = NewAccount {
        email,
        username: None,
        phone: None,
        first_name: None,
        last_name: None,
        roles: BTreeSet::from_iter(state.auth.roles.role("user")),
        password: None,
    };
    let context = CommandContext {
        metadata,
        ..Default::default()
    };
    let executed = creator.create(account, context).await?;
    match executed.state {
        UserState::Present(user) => Ok(user),
        _ => Err(Problem::validation().with_field("/email", "no such user")),
    }
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
    let (organization, _) =
        authorized_organization(&state, &authority, &id, Operation::InviteMember).await?;
    let body = command.body;
    let mut fields = FieldErrors::default();
    let permissions = catalog_permissions(&mut fields, &state, &body.permissions);
    let email = body
        .email
        .as_deref()
        .and_then(|raw| fields.parse(raw, Email::parse, "/email"));
    fields.finish()?;
    let metadata = caller.metadata(&context, caller.user.id);
    let user = match (&body.user_id, email) {
        (Some(user_id), None) => existing_user(&state, user_id, "/user_id").await?,
        (None, Some(email)) => {
            authority.require_or(
                Operation::CreateUser,
                Target::Organization(organization.id),
                Problem::validation,
            )?;
            user_for_invitation(&state, metadata.clone(), email).await?
        }
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
    let (invitation, position) = invite(&state, metadata, &organization, &user, offer).await?;
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
    let (organization, _) =
        authorized_organization(&state, &authority, &id, Operation::ListInvitations).await?;
    let now = chrono::Utc::now();
    let mut views = Vec::new();
    for (user_id, invitation) in &organization.invitations {
        if !invitation.is_open(now) {
            continue;
        }
        let loaded = state
            .commands
            .current::<UserAggregate>(&user_id.to_string())
            .await
            .map_err(|error| command_problem(error, user_problem))?;
        let user = match &loaded.state {
            UserState::Present(user) => Some(user.as_ref()),
            _ => None,
        };
        views.push(InvitationView::new(
            organization.id,
            user,
            *user_id,
            invitation,
        ));
    }
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
    let user_id: UserId = user_id.parse().map_err(|_| invitation_not_found())?;
    let metadata = caller.metadata(&context, user_id);
    let now = chrono::Utc::now();
    let executed = state
        .commands
        .execute::<OrganizationAggregate>(
            &organization.id.to_string(),
            OrganizationCommand::RevokeInvitation { user_id, at: now },
            CommandContext {
                metadata: metadata.clone(),
                idempotency,
                data_subject: Some(organization.id.to_string()),
                ..Default::default()
            },
        )
        .await
        .map_err(|error| command_problem(error, organization_problem))?;
    unlink(&state, metadata, organization.id, user_id, now).await;
    Ok((StatusCode::NO_CONTENT, positioned(executed.position)).into_response())
}

/// Drops a person's link to an organization they did not join. A link left behind is harmless:
/// readers confirm links against the organization.
async fn unlink(
    state: &AppState,
    metadata: eventstore::EventMetadata,
    organization_id: OrganizationId,
    user_id: UserId,
    at: Timestamp,
) {
    let unlink = UserCommand::UnlinkOrganization {
        organization_id,
        at,
    };
    let context = CommandContext {
        metadata,
        ..Default::default()
    };
    if let Err(error) = state
        .commands
        .execute::<UserAggregate>(&user_id.to_string(), unlink, context)
        .await
    {
        tracing::warn!(%error, "unlinking an invitee failed; the link stays, unconfirmed");
    }
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
    let person = authority.person(&state, &caller.user);
    authority.require(
        Operation::ListOwnInvitations,
        Target::Person(&person),
        Resource::Invitation,
    )?;
    let now = chrono::Utc::now();
    let mut views = Vec::new();
    for id in &caller.user.organizations {
        let Some((organization, _)) = load_organization(&state, *id).await? else {
            continue;
        };
        if let Some(invitation) = organization
            .invitations
            .get(&caller.user.id)
            .filter(|invitation| invitation.is_open(now))
        {
            views.push(OwnInvitationView {
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
            });
        }
    }
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
    let person = authority.person(&state, &caller.user);
    authority.require(
        Operation::AnswerInvitation,
        Target::Person(&person),
        Resource::Invitation,
    )?;
    let organization_id: OrganizationId = organization_id
        .parse()
        .map_err(|_| invitation_not_found())?;
    // Only organizations that linked the caller can have invited them.
    if !caller.user.organizations.contains(&organization_id) {
        return Err(invitation_not_found());
    }
    let metadata = caller.metadata(&context, caller.user.id);
    let now = chrono::Utc::now();
    let executed = state
        .commands
        .execute::<OrganizationAggregate>(
            &organization_id.to_string(),
            OrganizationCommand::AnswerInvitation {
                user_id: caller.user.id,
                accept,
                at: now,
            },
            CommandContext {
                metadata: metadata.clone(),
                data_subject: Some(organization_id.to_string()),
                ..Default::default()
            },
        )
        .await
        .map_err(|error| match error {
            commands::CommandError::Rejected(OrganizationError::NotFound) => invitation_not_found(),
            error => command_problem(error, organization_problem),
        })?;
    let lapsed = !executed.events.is_empty()
        && executed
            .events
            .iter()
            .all(|event| matches!(event, OrganizationEvent::InvitationExpired { .. }));
    if lapsed || !accept {
        unlink(&state, metadata, organization_id, caller.user.id, now).await;
    }
    if lapsed {
        return Err(Problem::new(
            StatusCode::GONE,
            "invitation-expired",
            "The invitation lapsed",
        )
        .with_detail("Ask the organization to invite you again."));
    }
    Ok((StatusCode::NO_CONTENT, positioned(executed.position)).into_response())
}

/// `X-Log-Position` for what a command appended, so that reads can wait for it.
fn positioned(position: Option<u64>) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    if let Some(position) = position {
        headers.insert(LOG_POSITION, axum::http::HeaderValue::from(position));
    }
    headers
}
