//! The catalog of global roles: what each role is (privileged or not, its profile's fields),
//! defined, changed and retired by administrators; and role profiles, set on role holders.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{IfMatch, JsonCommand, RequestContext};
use crate::problem::Problem;
use crate::routes::positioned;
use application::Resource;
use application::authority::Authority;
use application::roles::{ProfileInput, RoleChange, Roles};
use application::users::Preconditions;
use application::views::UserView;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::role_catalog::{ProfileField, ProfileValues, RoleDefinition, is_built_in};
use domain::values::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role in the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    /// Its name.
    name: String,
    /// Only its holders and administrators act on a holder.
    privileged: bool,
    /// One of the four every installation has (`admin`, `auditor`, `analyst`, `user`).
    built_in: bool,
    /// `active` (may be granted) or `retired` (holders keep it; nobody may be granted it).
    status: &'static str,
    /// Its profile's fields, in order.
    #[schema(value_type = Vec<Object>)]
    fields: Vec<ProfileField>,
}

/// The catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleCatalogView {
    /// `log` once the catalog is kept in the log; `configuration` while `auth.roles` stands in
    /// for it (until the first change, or the first grant of a role that is not built in).
    source: &'static str,
    /// Active roles, then retired ones, each by name.
    roles: Vec<RoleView>,
}

fn role_view(role: &Role, definition: &RoleDefinition, status: &'static str) -> RoleView {
    RoleView {
        name: role.to_string(),
        privileged: definition.privileged,
        built_in: is_built_in(role),
        status,
        fields: definition.fields.clone(),
    }
}

fn catalog_view(roles: &Roles) -> RoleCatalogView {
    let active = roles
        .active()
        .iter()
        .map(|(role, definition)| role_view(role, definition, "active"));
    let retired = roles
        .retired()
        .iter()
        .map(|(role, definition)| role_view(role, definition, "retired"));
    RoleCatalogView {
        source: if roles.in_log() {
            "log"
        } else {
            "configuration"
        },
        roles: active.chain(retired).collect(),
    }
}

/// The role in `roles` named `name`, as the API shows it, or 404.
fn one_role(roles: &Roles, role: &Role) -> Result<RoleView, Problem> {
    if let Some(definition) = roles.active().get(role) {
        return Ok(role_view(role, definition, "active"));
    }
    match roles.retired().get(role) {
        Some(definition) => Ok(role_view(role, definition, "retired")),
        None => Err(crate::authz::not_found(Resource::Role)),
    }
}

fn role_name(raw: &str) -> Result<Role, Problem> {
    Role::parse(raw).map_err(|_| crate::authz::not_found(Resource::Role))
}

/// The role catalog (administrators and readers).
#[utoipa::path(get, path = "/api/v1/roles", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The catalog", body = RoleCatalogView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Neither an administrator nor a reader", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn roles(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<RoleCatalogView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(catalog_view(
        &state.role_catalog(&authority).await?,
    )))
}

/// What a role is, as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDefinitionRequest {
    /// Only its holders and administrators act on a holder (default false; `admin`,
    /// `auditor` and `analyst` are always privileged).
    #[serde(default)]
    privileged: bool,
    /// Its profile's fields (at most 32): `{"name": "department", "type": "text",
    /// "required": true, "allowed": ["physics", "chemistry"]}`; `type` is `text`, `integer`,
    /// `boolean` or `date`; `allowed` only for text and integer fields.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    fields: Vec<ProfileField>,
}

impl RoleDefinitionRequest {
    fn definition(self) -> RoleDefinition {
        RoleDefinition {
            privileged: self.privileged,
            fields: self.fields,
        }
    }
}

/// `POST /roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineRoleRequest {
    /// The role's name: letters, digits, `_` and `-`, up to 64 characters.
    #[schema(example = "student")]
    name: String,
    /// Only its holders and administrators act on a holder (default false).
    #[serde(default)]
    privileged: bool,
    /// Its profile's fields (see `PUT /roles/{role}`).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    fields: Vec<ProfileField>,
}

/// Defines a role, or a retired one again (administrators).
#[utoipa::path(post, path = "/api/v1/roles", tag = "admin",
    request_body = DefineRoleRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Defined", body = RoleView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The role is defined already", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn define_role(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    command: JsonCommand<DefineRoleRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let body = command.body;
    let role = Role::parse(&body.name)
        .map_err(|error| Problem::validation().with_field("/name", error.message))?;
    let definition = RoleDefinition {
        privileged: body.privileged,
        fields: body.fields,
    };
    let position = state
        .change_role_catalog(
            &authority,
            &context,
            role.clone(),
            RoleChange::Define(definition),
        )
        .await?;
    let view = one_role(&state.role_catalog(&authority).await?, &role)?;
    Ok((StatusCode::CREATED, positioned(position), axum::Json(view)).into_response())
}

/// Changes a role's privilege and profile fields (administrators). Holders' profiles stay as
/// they were set; the next change of a profile is checked against the new fields.
#[utoipa::path(put, path = "/api/v1/roles/{role}", tag = "admin",
    params(("role" = String, Path, description = "The role", example = "student")),
    request_body = RoleDefinitionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed (or already so)", body = RoleView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such active role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "admin, auditor and analyst stay privileged", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn change_role(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(role): Path<String>,
    command: JsonCommand<RoleDefinitionRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let role = role_name(&role)?;
    let change = RoleChange::Change(command.body.definition());
    let position = state
        .change_role_catalog(&authority, &context, role.clone(), change)
        .await?;
    let view = one_role(&state.role_catalog(&authority).await?, &role)?;
    Ok((positioned(position), axum::Json(view)).into_response())
}

/// Retires a role (administrators): nobody may be granted it from now on; holders keep it,
/// its privilege and their profiles. Built-in roles stay.
#[utoipa::path(delete, path = "/api/v1/roles/{role}", tag = "admin",
    params(("role" = String, Path, description = "The role", example = "student")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Retired"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such active role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A built-in role", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn retire_role(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(role): Path<String>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let role = role_name(&role)?;
    let position = state
        .change_role_catalog(&authority, &context, role, RoleChange::Retire)
        .await?;
    Ok((StatusCode::NO_CONTENT, positioned(position)).into_response())
}

/// Sets the profile of a role the user holds, checked against the role's fields
/// (administrators, not on themselves). The body is the whole profile: `{"student_id":
/// "S-1024", "department": "physics", "year": 2}`. `If-Match` (the user's `ETag`) and
/// `Idempotency-Key` work as for `PATCH /users/{id}`.
#[utoipa::path(put, path = "/api/v1/users/{id}/role-profiles/{role}", tag = "users",
    params(
        ("id" = String, Path, description = "User id"),
        ("role" = String, Path, description = "A role the user holds", example = "student"),
    ),
    request_body(content = Object, description = "The profile's values, by field"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, with the profile", body = UserView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator, or on oneself", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user does not hold the role", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn set_role_profile(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path((id, role)): Path<(String, String)>,
    IfMatch(expected_version): IfMatch,
    command: JsonCommand<ProfileValues>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let user_id = crate::routes::users::user_id(&id)?;
    let role = role_name(&role)?;
    let preconditions = Preconditions {
        expected_version,
        idempotency: command.idempotency,
    };
    let executed = state
        .set_role_profile(
            &authority,
            &context,
            user_id,
            role,
            ProfileInput::Values(command.body),
            preconditions,
        )
        .await?;
    crate::routes::users::user_answer(StatusCode::OK, &executed, chrono::Utc::now())
}
