//! `/api/v1/organizations/...`: organizations (partners) and their members.
//!
//! Who may do what is the policy's (`application::policy`): administrators manage everything;
//! an organization's `org_admin` members manage its memberships, invitations, display name and
//! contact; members and global readers may read it. Joining takes the person's consent (an
//! invitation, see `routes::invitations`) unless an administrator adds them. An organization the
//! caller may not see is "not found".
//!
//! Memberships live in the organization's stream. The user's stream is linked to the
//! organization before a membership is added and unlinked after it is removed, so a user's links
//! are always a superset of their memberships, and reading a user's organizations (for
//! `/auth/me`, or the login check) never misses one; each link is confirmed against the
//! organization's stream.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{Idempotency, IfMatch, JsonCommand, RequestContext, etag};
use crate::problem::{FieldErrors, Problem};
use crate::routes::auth::LOG_POSITION;
use application::AppError;
use application::Resource;
use application::authority::Authority;
use application::organizations::{MemberChange, NewMember, NewOrganization, OrganizationChanges};
use application::policy::{Operation, Person, Target};
use application::users::Preconditions;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::organization::{
    CommunicationMethod, Contact, EdiFormat, OrgRole, Organization, OrganizationError,
    OrganizationState, OrganizationStatus, PartnerDetails,
};
use domain::user::User;
use domain::values::{
    DisplayName, EdiId, Email, OrganizationName, PartnerCode, Permission, PersonName, PhoneNumber,
};
use domain::{OrganizationId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "organization-not-found",
        "No such organization",
    )
}

/// The answers to a refused organization command.
pub fn organization_problem(error: OrganizationError) -> Problem {
    let (status, slug) = match &error {
        OrganizationError::NotFound => (StatusCode::NOT_FOUND, "organization-not-found"),
        OrganizationError::AlreadyExists => (StatusCode::CONFLICT, "organization-exists"),
        OrganizationError::AlreadyMember => (StatusCode::CONFLICT, "already-a-member"),
        OrganizationError::NotAMember => (StatusCode::NOT_FOUND, "not-a-member"),
        OrganizationError::AlreadyInvited => (StatusCode::CONFLICT, "already-invited"),
        OrganizationError::NoInvitation => (StatusCode::NOT_FOUND, "invitation-not-found"),
        OrganizationError::NoApiKey => (StatusCode::NOT_FOUND, "api-key-not-found"),
        OrganizationError::ApiKeyNameTaken => (StatusCode::CONFLICT, "api-key-name-taken"),
        OrganizationError::TooManyApiKeys => (StatusCode::CONFLICT, "too-many-api-keys"),
        OrganizationError::ApiKeyExpiryPassed => {
            return Problem::validation().with_field("/expires_at", "must be in the future");
        }
    };
    Problem::new(status, slug, &error.to_string())
}

/// An organization, as folded from its stream now.
pub async fn load_organization(
    state: &AppState,
    id: OrganizationId,
) -> Result<Option<(Box<Organization>, u64)>, Problem> {
    Ok(state.organization(id).await?)
}

/// The organizations `user` is a member of, with the membership, confirmed against each
/// organization's stream.
pub async fn memberships_of(state: &AppState, user: &User) -> Result<Vec<MembershipView>, Problem> {
    let mut memberships = Vec::new();
    for id in &user.organizations {
        if let Some((organization, _)) = load_organization(state, *id).await?
            && let Some(membership) = organization.members.get(&user.id)
        {
            memberships.push(MembershipView {
                organization_id: organization.id.to_string(),
                name: organization.name.to_string(),
                display_name: organization.display_name.as_ref().map(ToString::to_string),
                status: organization.status,
                role: membership.role,
                permissions: membership
                    .permissions
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
    }
    Ok(memberships)
}

/// One of a user's memberships, as `/auth/me` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembershipView {
    organization_id: String,
    name: String,
    display_name: Option<String>,
    #[schema(value_type = String, example = "active")]
    status: OrganizationStatus,
    #[schema(value_type = String, example = "member")]
    role: OrgRole,
    permissions: Vec<String>,
}

impl MembershipView {
    /// The organization.
    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }

    /// The member's role there.
    pub fn role(&self) -> OrgRole {
        self.role
    }

    /// The organization's status.
    pub fn status(&self) -> OrganizationStatus {
        self.status
    }
}

/// A member as an organization lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    user_id: String,
    #[schema(value_type = String, example = "member")]
    role: OrgRole,
    permissions: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    since: Timestamp,
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    id: String,
    name: String,
    display_name: Option<String>,
    contact_name: Option<String>,
    contact_email: Option<String>,
    contact_phone: Option<String>,
    #[schema(value_type = String, example = "active")]
    status: OrganizationStatus,
    /// Its partner details, for an EDI partner.
    #[schema(value_type = Option<PartnerRequest>)]
    partner: Option<PartnerDetails>,
    /// Its members; absent for a caller who may not read them (an API key editing the
    /// details).
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<Vec<MemberView>>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros")]
    created_at: Timestamp,
}

impl OrganizationView {
    fn new(organization: &Organization) -> Self {
        Self {
            id: organization.id.to_string(),
            name: organization.name.to_string(),
            display_name: organization.display_name.as_ref().map(ToString::to_string),
            contact_name: organization.contact.name.as_ref().map(ToString::to_string),
            contact_email: organization.contact.email.as_ref().map(ToString::to_string),
            contact_phone: organization.contact.phone.as_ref().map(ToString::to_string),
            status: organization.status,
            partner: organization.partner.clone(),
            members: Some(
                organization
                    .members
                    .iter()
                    .map(|(user_id, membership)| MemberView {
                        user_id: user_id.to_string(),
                        role: membership.role,
                        permissions: membership
                            .permissions
                            .iter()
                            .map(ToString::to_string)
                            .collect(),
                        since: membership.since,
                    })
                    .collect(),
            ),
            created_at: organization.created_at,
        }
    }
}

fn organization_answer(
    status: StatusCode,
    organization: &OrganizationState,
    version: u64,
    position: Option<u64>,
) -> Result<Response, Problem> {
    organization_answer_with(status, organization, version, position, true)
}

/// [`organization_answer`], with its members only if `members`.
fn organization_answer_with(
    status: StatusCode,
    organization: &OrganizationState,
    version: u64,
    position: Option<u64>,
    members: bool,
) -> Result<Response, Problem> {
    let OrganizationState::Present(organization) = organization else {
        return Err(not_found());
    };
    let mut view = OrganizationView::new(organization);
    if !members {
        view.members = None;
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(version));
    if let Some(position) = position {
        headers.insert(LOG_POSITION, HeaderValue::from(position));
    }
    if status == StatusCode::CREATED
        && let Ok(location) =
            HeaderValue::from_str(&format!("/api/v1/organizations/{}", organization.id))
    {
        headers.insert(header::LOCATION, location);
    }
    Ok((status, headers, axum::Json(view)).into_response())
}

/// The organization at `id` if the policy lets the caller do `operation` to it; "not found"
/// when it does not exist or the caller may not see it.
pub(crate) async fn authorized_organization(
    state: &AppState,
    authority: &Authority,
    id: &str,
    operation: Operation,
) -> Result<(Box<Organization>, u64), Problem> {
    let id: OrganizationId = id.parse().map_err(|_| not_found())?;
    Ok(state
        .authorized_organization(authority, id, operation)
        .await?)
}

/// Membership permission flags as sent (whether each may be given is the use case's to say).
pub(crate) fn permission_names(fields: &mut FieldErrors, names: &[String]) -> BTreeSet<Permission> {
    names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| {
            fields.parse(name, Permission::parse, &format!("/permissions/{index}"))
        })
        .collect()
}

/// Contact fields as requests send them (at the top level of the body, beside the others).
#[derive(Debug, Default, Clone, Copy)]
struct ContactFields<'a> {
    contact_name: Option<&'a str>,
    contact_email: Option<&'a str>,
    contact_phone: Option<&'a str>,
}

impl ContactFields<'_> {
    fn parse(&self, fields: &mut FieldErrors) -> Contact {
        Contact {
            name: self
                .contact_name
                .and_then(|raw| fields.parse(raw, PersonName::parse, "/contact_name")),
            email: self
                .contact_email
                .and_then(|raw| fields.parse(raw, Email::parse, "/contact_email")),
            phone: self
                .contact_phone
                .and_then(|raw| fields.parse(raw, PhoneNumber::parse, "/contact_phone")),
        }
    }
}

/// A partner's details, as requests send them and answers show them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerRequest {
    /// Unique code: letters, digits, `-`, `_` and `.`, 1 to 32; kept upper case.
    #[schema(schema_with = crate::openapi::partner_code, example = "ACME001")]
    code: String,
    /// `sftp`, `api`, `both` or `manual`.
    #[schema(schema_with = crate::openapi::communication_method)]
    communication: CommunicationMethod,
    /// `X12`, `EDIFACT`, `XML`, `JSON` or `CSV`.
    #[schema(schema_with = crate::openapi::edi_format)]
    edi_format: EdiFormat,
    /// EDI sender id, 1 to 35 of the same characters (the pair of ids is unique).
    #[schema(schema_with = crate::openapi::edi_id, example = "ACMESENDER")]
    sender_id: String,
    /// EDI receiver id.
    #[schema(schema_with = crate::openapi::edi_id, example = "IDLOGRECEIVER")]
    receiver_id: String,
}

impl PartnerRequest {
    /// The details, with each field that does not read told in `fields`.
    fn parse(&self, fields: &mut FieldErrors) -> Option<PartnerDetails> {
        let code = fields.parse(&self.code, PartnerCode::parse, "/partner/code");
        let sender_id = fields.parse(&self.sender_id, EdiId::parse, "/partner/sender_id");
        let receiver_id = fields.parse(&self.receiver_id, EdiId::parse, "/partner/receiver_id");
        Some(PartnerDetails {
            code: code?,
            communication: self.communication,
            edi_format: self.edi_format,
            sender_id: sender_id?,
            receiver_id: receiver_id?,
        })
    }
}

/// `POST /organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// Unique name.
    #[schema(schema_with = crate::openapi::organization_name)]
    name: String,
    #[schema(schema_with = crate::openapi::display_name)]
    display_name: Option<String>,
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    contact_name: Option<String>,
    #[schema(schema_with = crate::openapi::email_or_null)]
    contact_email: Option<String>,
    #[schema(schema_with = crate::openapi::phone_or_null)]
    contact_phone: Option<String>,
    /// `active` (default), `inactive`, `testing` or `suspended`.
    #[schema(schema_with = crate::openapi::organization_status)]
    status: Option<OrganizationStatus>,
    /// Partner details, for an EDI partner (administrators).
    partner: Option<PartnerRequest>,
}

macro_rules! contact_fields {
    ($request:ty) => {
        impl $request {
            fn contact(&self) -> ContactFields<'_> {
                ContactFields {
                    contact_name: self.contact_name.as_deref(),
                    contact_email: self.contact_email.as_deref(),
                    contact_phone: self.contact_phone.as_deref(),
                }
            }
        }
    };
}
contact_fields!(CreateOrganizationRequest);
contact_fields!(UpdateOrganizationRequest);

/// Creates an organization (administrators).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", request_body = CreateOrganizationRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = OrganizationView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn create_organization(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    command: JsonCommand<CreateOrganizationRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    authority.require(
        Operation::CreateOrganization,
        Target::Everything,
        Resource::Organization,
    )?;
    let body = command.body;
    let mut fields = FieldErrors::default();
    let name = fields.parse(&body.name, OrganizationName::parse, "/name");
    let display_name = body
        .display_name
        .as_deref()
        .and_then(|raw| fields.parse(raw, DisplayName::parse, "/display_name"));
    let contact = body.contact().parse(&mut fields);
    let partner = body
        .partner
        .as_ref()
        .and_then(|partner| partner.parse(&mut fields));
    fields.finish()?;
    let Some(name) = name else {
        return Err(Problem::validation().with_field("/name", "is required"));
    };
    let new = NewOrganization {
        name,
        display_name,
        contact,
        status: body.status.unwrap_or(OrganizationStatus::Active),
        partner,
    };
    let (after, version, position) = state
        .create_organization(&authority, &context, new, command.idempotency)
        .await?;
    organization_answer(StatusCode::CREATED, &after, version, position)
}

/// Reads an organization with its members (administrators and its members).
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn get_organization(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let (organization, version) =
        authorized_organization(&state, &authority, &id, Operation::ReadOrganization).await?;
    organization_answer(
        StatusCode::OK,
        &OrganizationState::Present(organization),
        version,
        None,
    )
}

/// `PATCH /organizations/{id}`: only the fields sent change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    /// Unique name (administrators).
    #[schema(schema_with = crate::openapi::organization_name_or_null)]
    name: Option<String>,
    #[schema(schema_with = crate::openapi::display_name)]
    display_name: Option<String>,
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    contact_name: Option<String>,
    #[schema(schema_with = crate::openapi::email_or_null)]
    contact_email: Option<String>,
    #[schema(schema_with = crate::openapi::phone_or_null)]
    contact_phone: Option<String>,
    /// Status (administrators).
    #[schema(schema_with = crate::openapi::organization_status)]
    status: Option<OrganizationStatus>,
    /// Partner details (administrators); `null` removes them.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<PartnerRequest>)]
    partner: Option<Option<PartnerRequest>>,
}

/// Changes an organization's name, display name, contact or status.
#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")), request_body = UpdateOrganizationRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The changed organization", body = OrganizationView),
        (status = 403, description = "Name and status need the admin role; other fields an org_admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn update_organization(
    State(state): State<AppState>,
    context: RequestContext,
    // Open to API keys: a key given can_manage_settings edits the details.
    authority: Authority,
    Path(id): Path<String>,
    IfMatch(expected_version): IfMatch,
    command: JsonCommand<UpdateOrganizationRequest>,
) -> Result<Response, Problem> {
    let body = command.body;
    // Who may not change it hears so before anything is said about the fields.
    let (organization, _) = authorized_organization(
        &state,
        &authority,
        &id,
        Operation::ChangeOrganizationDetails,
    )
    .await?;
    let mut fields = FieldErrors::default();
    let sent = body.contact().parse(&mut fields);
    let changes = OrganizationChanges {
        name: body
            .name
            .as_deref()
            .and_then(|raw| fields.parse(raw, OrganizationName::parse, "/name")),
        display_name: body
            .display_name
            .as_deref()
            .and_then(|raw| fields.parse(raw, DisplayName::parse, "/display_name")),
        contact_name: sent.name,
        contact_email: sent.email,
        contact_phone: sent.phone,
        status: body.status,
        partner: body.partner.as_ref().map(|partner| {
            partner
                .as_ref()
                .and_then(|partner| partner.parse(&mut fields))
        }),
    };
    fields.finish()?;
    let preconditions = Preconditions {
        expected_version,
        idempotency: command.idempotency,
    };
    let (after, version, position) = state
        .change_organization(
            &authority,
            &context,
            organization.id,
            changes,
            preconditions,
        )
        .await?;
    // Who may change the details but not read the organization (an API key holding
    // can_manage_settings) is not shown its members.
    let members = authority.allows(
        Operation::ReadOrganization,
        Target::Organization(organization.id),
    );
    organization_answer_with(StatusCode::OK, &after, version, position, members)
}

/// `POST /organizations/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    user_id: String,
    /// `org_admin`, `member` (default) or `readonly`.
    #[schema(schema_with = crate::openapi::org_role)]
    role: Option<OrgRole>,
    /// Permission flags from the catalog.
    #[serde(default)]
    permissions: Vec<String>,
}

/// `PATCH /organizations/{id}/members/{user_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeMemberRequest {
    #[schema(schema_with = crate::openapi::org_role)]
    role: Option<OrgRole>,
    permissions: Option<Vec<String>>,
}

/// The member `raw` of `organization` as the policy sees them, or "not a member".
async fn member_person(
    state: &AppState,
    authority: &Authority,
    organization: &Organization,
    raw: &str,
) -> Result<Person, Problem> {
    let user_id: UserId = raw
        .parse()
        .map_err(|_| organization_problem(OrganizationError::NotAMember))?;
    Ok(state.member(authority, organization, user_id).await?)
}

/// Adds a user to an organization (administrators, and the organization's org_admins).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/members", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")), request_body = AddMemberRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added; the organization with its members", body = OrganizationView),
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or no such user", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn add_member_route(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected_version): IfMatch,
    command: JsonCommand<AddMemberRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    // Who may not see the organization hears so before anything is said about the fields.
    let (organization, _) =
        authorized_organization(&state, &authority, &id, Operation::ReadOrganization).await?;
    let body = command.body;
    let mut fields = FieldErrors::default();
    let permissions = permission_names(&mut fields, &body.permissions);
    fields.finish()?;
    let member = NewMember {
        user_id: body.user_id,
        role: body.role.unwrap_or(OrgRole::Member),
        permissions,
    };
    let preconditions = Preconditions {
        expected_version,
        idempotency: command.idempotency,
    };
    let (after, version, position) = state
        .add_member_directly(&authority, &context, organization.id, member, preconditions)
        .await
        .map_err(|error| match error {
            refused @ AppError::Refused { .. } => Problem::from(refused).with_detail(
                "Only administrators add members directly; invite the person instead \
                 (POST /api/v1/organizations/{id}/invitations): they join when they accept.",
            ),
            error => error.into(),
        })?;
    organization_answer(StatusCode::CREATED, &after, version, position)
}

/// Changes a member's role or permissions.
#[utoipa::path(patch, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "Member's user id")),
    request_body = ChangeMemberRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; the organization with its members", body = OrganizationView),
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or member", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn change_member(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    IfMatch(expected_version): IfMatch,
    command: JsonCommand<ChangeMemberRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let (organization, _) =
        authorized_organization(&state, &authority, &id, Operation::ReadOrganization).await?;
    let person = member_person(&state, &authority, &organization, &user_id).await?;
    // Who may not change the member hears so before anything is said about the fields.
    authority.require(
        Operation::ChangeMember,
        Target::Member {
            organization: organization.id,
            person: &person,
        },
        Resource::Member,
    )?;
    let body = command.body;
    let mut fields = FieldErrors::default();
    let permissions = body
        .permissions
        .as_ref()
        .map(|names| permission_names(&mut fields, names));
    fields.finish()?;
    let preconditions = Preconditions {
        expected_version,
        idempotency: command.idempotency,
    };
    let (after, version, position) = state
        .change_member(
            &authority,
            &context,
            organization.id,
            person.id,
            MemberChange {
                role: body.role,
                permissions,
            },
            preconditions,
        )
        .await?;
    organization_answer(StatusCode::OK, &after, version, position)
}

/// Removes a member: removes the membership, then unlinks the user.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "Member's user id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed; the organization with its members", body = OrganizationView),
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or member", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn remove_member(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    IfMatch(expected_version): IfMatch,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let id: OrganizationId = id.parse().map_err(|_| not_found())?;
    let user_id: UserId = user_id
        .parse()
        .map_err(|_| organization_problem(OrganizationError::NotAMember))?;
    let preconditions = Preconditions {
        expected_version,
        idempotency,
    };
    let (after, version, position) = state
        .remove_member(&authority, &context, id, user_id, preconditions)
        .await?;
    organization_answer(StatusCode::OK, &after, version, position)
}

/// Reads the organization whose partner code is `code` (administrators and readers, and its
/// members).
#[utoipa::path(get, path = "/api/v1/partners/{code}", tag = "organizations",
    params(("code" = String, Path, description = "Partner code (any case)")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        crate::openapi::AuthErrors,
        (status = 404, description = "No organization has this code, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn partner(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let (organization, version) = state.partner(&authority, &code).await?;
    organization_answer(
        StatusCode::OK,
        &OrganizationState::Present(organization),
        version,
        None,
    )
}

/// The permission flags memberships may carry.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionCatalogView {
    /// The flags that may be given.
    active: Vec<String>,
    /// Flags retired: memberships keep them, none may be given them.
    retired: Vec<String>,
}

/// The catalog of permission flags (administrators, readers, org_admins).
#[utoipa::path(get, path = "/api/v1/permissions", tag = "organizations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The catalog", body = PermissionCatalogView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Neither an administrator, a reader nor an org_admin", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn permissions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<PermissionCatalogView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let (active, retired) = state.permission_catalog(&authority).await?;
    let names = |flags: BTreeSet<Permission>| flags.iter().map(ToString::to_string).collect();
    Ok(axum::Json(PermissionCatalogView {
        active: names(active),
        retired: names(retired),
    }))
}

/// `POST /permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinePermissionRequest {
    /// The flag: letters, digits, `_` and `-`, e.g. `can_sign_contracts`.
    #[schema(schema_with = crate::openapi::permission_name, example = "can_sign_contracts")]
    name: String,
}

/// Defines a permission flag, or defines a retired one again (administrators).
#[utoipa::path(post, path = "/api/v1/permissions", tag = "organizations",
    request_body = DefinePermissionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Defined; the catalog now", body = PermissionCatalogView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Defined already", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn define_permission(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    command: JsonCommand<DefinePermissionRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let flag = Permission::parse(&command.body.name)
        .map_err(|error| Problem::validation().with_field("/name", error.message))?;
    state
        .change_permission_catalog(&authority, &context, flag, true)
        .await?;
    let view = permissions(State(state), caller).await?;
    Ok((StatusCode::CREATED, view).into_response())
}

/// Retires a permission flag: no membership may be given it from now on; those that hold it
/// keep it (administrators).
#[utoipa::path(delete, path = "/api/v1/permissions/{name}", tag = "organizations",
    params(("name" = String, Path, description = "The flag")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Retired"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not in the catalog, or retired already", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn retire_permission(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let flag = Permission::parse(&name).map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "permission-not-found",
            "No such permission flag",
        )
    })?;
    state
        .change_permission_catalog(&authority, &context, flag, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
