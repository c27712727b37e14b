//! `/api/v1/users/...`: user administration.
//!
//! Who may do what is the policy's (`application::policy`): administrators everything; a person
//! their own names, username, email and phone (email and phone with a fresh proof: their current
//! password or a recent sign-in); an organization's org_admins read their members' directory
//! entries. Someone the caller may not see is "not found"; what they see but may not do is 403.
//! Every command takes `If-Match` (the `ETag` of a read) and `Idempotency-Key`. Profiles and
//! pictures have their own routes: [`super::profiles`].

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{Idempotency, IfMatch, JsonCommand, RequestContext, etag};
use crate::problem::{FieldErrors, Problem};
use crate::routes::auth::{Accepted, LOG_POSITION};
use application::Resource;
use application::accounts::{NewAccount, Placement};
use application::authority::Authority;
use application::policy::Operation;
use application::users::{AccountAction, Preconditions, Read, UserChanges};
use application::views::UserView;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use commands::Executed;
use domain::organization::OrgRole;
use domain::user::{User, UserAggregate, UserState};
use domain::values::{Email, PersonName, PhoneNumber, Reason, Role, Username};
use domain::{Timestamp, UserId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// The user id in a path: one that does not parse names no user.
pub(crate) fn user_id(id: &str) -> Result<UserId, Problem> {
    id.parse()
        .map_err(|_| crate::authz::not_found(Resource::User))
}

/// The user at `id` if the policy lets the caller do `operation` to them, with its stream
/// version; "not found" when there is no such user or the caller may not see them.
pub(crate) async fn authorized_user(
    state: &AppState,
    authority: &Authority,
    id: &str,
    read: Read,
    operation: Operation,
) -> Result<(Box<User>, u64), Problem> {
    Ok(state
        .authorized_user(authority, user_id(id)?, read, operation)
        .await?)
}

/// As [`authorized_user`], for a request that asks the policy once.
pub(crate) async fn user_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    read: Read,
    operation: Operation,
) -> Result<(Box<User>, u64), Problem> {
    let authority = Authority::of(state, caller).await?;
    authorized_user(state, &authority, id, read, operation).await
}

/// The answer to a command on a user: the user, its `ETag` and the log position.
pub(crate) fn user_answer(
    status: StatusCode,
    executed: &Executed<UserAggregate>,
    now: Timestamp,
) -> Result<Response, Problem> {
    let UserState::Present(user) = &executed.state else {
        return Err(crate::authz::not_found(Resource::User));
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(executed.stream_version));
    if let Some(position) = executed.position {
        headers.insert(LOG_POSITION, HeaderValue::from(position));
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/api/v1/users/{}", user.id))
    {
        headers.insert(header::LOCATION, location);
    }
    Ok((status, headers, axum::Json(UserView::new(user, now))).into_response())
}

/// A name as a `PATCH` sends it: absent keeps `current`, `null` removes it.
fn name_change(
    fields: &mut FieldErrors,
    raw: &Option<Option<String>>,
    pointer: &str,
) -> Option<Option<PersonName>> {
    raw.as_ref().map(|raw| {
        raw.as_deref()
            .and_then(|raw| fields.parse(raw, PersonName::parse, pointer))
    })
}

/// Global roles by name (whether the catalog has them is the application's to say).
fn role_names(fields: &mut FieldErrors, names: &[String]) -> BTreeSet<Role> {
    names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| fields.parse(name, Role::parse, &format!("/roles/{index}")))
        .collect()
}

/// `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(schema_with = crate::openapi::email)]
    email: String,
    /// Without a password, an invitation to set one goes to the email address.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// The password must be changed at the first sign-in (needs `password`).
    #[serde(default)]
    temporary_password: bool,
    #[schema(schema_with = crate::openapi::username_or_null)]
    username: Option<String>,
    #[schema(schema_with = crate::openapi::phone_or_null)]
    phone: Option<String>,
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    first_name: Option<String>,
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    last_name: Option<String>,
    /// Global roles from the catalog; default `user`.
    roles: Option<Vec<String>>,
    /// An organization to add the user to (an org_admin must name theirs).
    organization: Option<String>,
    /// Their role there: `org_admin`, `member` (default) or `readonly`.
    #[schema(schema_with = crate::openapi::org_role)]
    organization_role: Option<OrgRole>,
}

/// Creates a user (administrators).
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = CreateUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = UserView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email, username or phone taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    command: JsonCommand<CreateUserRequest>,
) -> Result<Response, Problem> {
    let body = command.body;
    let authority = Authority::of(&state, &caller).await?;
    let placement = match &body.organization {
        Some(raw) => Some(Placement {
            organization: raw.parse().map_err(|_| {
                Problem::validation().with_field("/organization", "no such organization")
            })?,
            role: body.organization_role.unwrap_or(OrgRole::Member),
        }),
        None => None,
    };
    let mut fields = FieldErrors::default();
    let email = fields.parse(&body.email, Email::parse, "/email");
    let username = body
        .username
        .as_deref()
        .and_then(|raw| fields.parse(raw, Username::parse, "/username"));
    let phone = body
        .phone
        .as_deref()
        .and_then(|raw| fields.parse(raw, PhoneNumber::parse, "/phone"));
    let first_name = body
        .first_name
        .as_deref()
        .and_then(|raw| fields.parse(raw, PersonName::parse, "/first_name"));
    let last_name = body
        .last_name
        .as_deref()
        .and_then(|raw| fields.parse(raw, PersonName::parse, "/last_name"));
    let roles = role_names(
        &mut fields,
        body.roles.as_deref().unwrap_or(&["user".to_owned()]),
    );
    fields.finish()?;
    let Some(email) = email else {
        return Err(Problem::validation().with_field("/email", "is required"));
    };
    let account = NewAccount {
        email,
        username,
        phone,
        first_name,
        last_name,
        roles,
        password: body.password,
        temporary_password: body.temporary_password,
    };
    let executed = state
        .create_user(
            &authority,
            &context,
            account,
            body.roles.is_some(),
            placement,
            command.idempotency,
        )
        .await?;
    user_answer(StatusCode::CREATED, &executed, chrono::Utc::now())
}

/// Reads a user, folded from the log (always current). The `ETag` is the stream version.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id"), crate::routes::audit::PointInTime),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user (now, or as of the point asked for, for auditors, administrators and the user themself: then the `X-As-Of-Position` header names the last event folded, and there is no `ETag`)", body = UserView),
        crate::openapi::AuthErrors,
        crate::openapi::QueryErrors,
        (status = 404, description = "No such user, or not one the caller may see, or not yet existing at the point asked for", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    crate::extract::ApiQuery(point): crate::extract::ApiQuery<crate::routes::audit::PointInTime>,
) -> Result<Response, Problem> {
    if point.is_set() {
        // An org_admin's view of a member starts when the membership did, so their past is
        // not theirs to see: the past is the history's, for auditors and the person.
        let authority = Authority::of(&state, &caller).await?;
        let past = state
            .user_as_of(&authority, user_id(&id)?, point.as_of, point.at_position)
            .await?;
        let seen_at = point.as_of.unwrap_or(past.recorded_at);
        let mut response = axum::Json(UserView::new(&past.user, seen_at)).into_response();
        response.headers_mut().insert(
            crate::routes::audit::AS_OF_POSITION,
            HeaderValue::from(past.position),
        );
        return Ok(response);
    }
    let authority = Authority::of(&state, &caller).await?;
    let (user, version) = state.user(&authority, user_id(&id)?).await?;
    let view = state.user_view(&authority, &user).await?;
    let mut response = axum::Json(view).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    Ok(response)
}

/// The caller's own user: `GET /users/{id}` with their id.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    params(crate::routes::audit::PointInTime),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller (now, or as of the point asked for)", body = UserView),
        crate::openapi::AuthErrors,
        crate::openapi::QueryErrors,
        (status = 404, description = "The caller did not exist yet at the point asked for", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_me(
    state: State<AppState>,
    caller: Caller,
    point: crate::extract::ApiQuery<crate::routes::audit::PointInTime>,
) -> Result<Response, Problem> {
    let id = caller.user.id.to_string();
    get_user(state, caller, Path(id), point).await
}

/// Changes the caller's own names, username, email or phone: `PATCH /users/{id}` with their id.
#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "users",
    request_body = UpdateUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many password checks; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The changed user", body = UserView),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Role changes need the admin role; an email or phone change needs `current_password` or a recent sign-in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email, username or phone taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn update_me(
    state: State<AppState>,
    context: RequestContext,
    caller: Caller,
    expected_version: IfMatch,
    command: JsonCommand<UpdateUserRequest>,
) -> Result<Response, Problem> {
    let id = caller.user.id.to_string();
    update_user(state, context, caller, Path(id), expected_version, command).await
}

/// `PATCH /users/{id}`: only the fields sent change; `null` removes an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(schema_with = crate::openapi::username_or_null)]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(schema_with = crate::openapi::phone_or_null)]
    phone: Option<Option<String>>,
    /// A new address restarts its verification.
    #[schema(schema_with = crate::openapi::email_or_null)]
    email: Option<String>,
    /// The whole set of global roles (administrators only).
    roles: Option<Vec<String>>,
    /// A person changing their own email or phone confirms it with their current password,
    /// unless they signed in within `auth.reauth_minutes`.
    #[schema(value_type = Option<String>, format = Password)]
    current_password: Option<SecretString>,
}

/// Changes a user's names, username, email, phone or roles, all at once or not at all.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    request_body = UpdateUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many password checks or reset links for this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The changed user", body = UserView),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Role changes need the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email, username or phone taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn update_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected_version): IfMatch,
    command: JsonCommand<UpdateUserRequest>,
) -> Result<Response, Problem> {
    let mut authority = Authority::of(&state, &caller).await?;
    let user_id = user_id(&id)?;
    // Who may not see the user hears so before anything is said about the fields.
    state.user(&authority, user_id).await?;
    let body = command.body;
    let mut fields = FieldErrors::default();
    let changes = UserChanges {
        first_name: name_change(&mut fields, &body.first_name, "/first_name"),
        last_name: name_change(&mut fields, &body.last_name, "/last_name"),
        username: body.username.as_ref().map(|username| {
            username
                .as_deref()
                .and_then(|raw| fields.parse(raw, Username::parse, "/username"))
        }),
        phone: body.phone.as_ref().map(|phone| {
            phone
                .as_deref()
                .and_then(|raw| fields.parse(raw, PhoneNumber::parse, "/phone"))
        }),
        email: body
            .email
            .as_deref()
            .and_then(|raw| fields.parse(raw, Email::parse, "/email")),
        roles: body
            .roles
            .as_deref()
            .map(|names| role_names(&mut fields, names)),
    };
    fields.finish()?;
    let preconditions = Preconditions {
        expected_version,
        idempotency: command.idempotency,
    };
    let executed = state
        .update_user(
            &mut authority,
            &context,
            user_id,
            changes,
            body.current_password,
            preconditions,
        )
        .await?;
    user_answer(StatusCode::OK, &executed, chrono::Utc::now())
}

/// `POST /users/{id}/lock`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    #[schema(schema_with = crate::openapi::reason)]
    reason: Option<String>,
    /// Until when; without it, until unlocked.
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
}

/// `POST /users/{id}/deactivate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    #[schema(schema_with = crate::openapi::reason)]
    reason: Option<String>,
}

/// Runs an administrator's action on a user's account, over HTTP.
async fn change_account(
    state: &AppState,
    context: &RequestContext,
    caller: &Caller,
    id: &str,
    action: AccountAction,
    preconditions: Preconditions,
) -> Result<Response, Problem> {
    let authority = Authority::of(state, caller).await?;
    let executed = state
        .change_account(&authority, context, user_id(id)?, action, preconditions)
        .await?;
    user_answer(StatusCode::OK, &executed, chrono::Utc::now())
}

fn reason(raw: Option<&str>) -> Result<Option<Reason>, Problem> {
    raw.map(Reason::parse).transpose().map_err(Problem::from)
}

/// Locks an account, until a time or until unlocked; ends its sessions.
#[utoipa::path(post, path = "/api/v1/users/{id}/lock", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = LockRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Locked", body = UserView),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (an end in the past)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn lock_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    command: JsonCommand<LockRequest>,
) -> Result<Response, Problem> {
    let reason = reason(command.body.reason.as_deref())?;
    let until = command.body.until;
    change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::Lock { reason, until },
        Preconditions {
            expected_version: expected,
            idempotency: command.idempotency,
        },
    )
    .await
}

/// Lifts any lock.
#[utoipa::path(post, path = "/api/v1/users/{id}/unlock", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unlocked", body = UserView),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not locked", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn unlock_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, Problem> {
    change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::Unlock,
        Preconditions {
            expected_version: expected,
            idempotency,
        },
    )
    .await
}

/// Turns an account off; ends its sessions.
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = DeactivateRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Deactivated", body = UserView),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn deactivate_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    command: JsonCommand<DeactivateRequest>,
) -> Result<Response, Problem> {
    let reason = reason(command.body.reason.as_deref())?;
    change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::Deactivate { reason },
        Preconditions {
            expected_version: expected,
            idempotency: command.idempotency,
        },
    )
    .await
}

/// Turns a deactivated account back on.
#[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reactivated", body = UserView),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn reactivate_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, Problem> {
    change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::Reactivate,
        Preconditions {
            expected_version: expected,
            idempotency,
        },
    )
    .await
}

/// Deletes a user: their email, username and phone become free; the log keeps the history.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = UserView),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or already deleted", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn delete_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, Problem> {
    change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::Delete,
        Preconditions {
            expected_version: expected,
            idempotency,
        },
    )
    .await
}

/// Restores a deleted user within `auth.restore_days` of the deletion: their email, username
/// and phone are theirs again (409 naming the field if someone took one since), their status is
/// what it was, their memberships stay ended.
#[utoipa::path(post, path = "/api/v1/users/{id}/restore", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Restored", body = UserView),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not deleted, or its email, username or phone was taken since (`errors` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Deleted longer ago than `auth.restore_days`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn restore_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, Problem> {
    change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::Restore,
        Preconditions {
            expected_version: expected,
            idempotency,
        },
    )
    .await
}

/// Sends the user a password reset link.
#[utoipa::path(post, path = "/api/v1/users/{id}/password-reset", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many password checks or reset links for this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 202, description = "A reset link is on its way", body = Accepted),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is deactivated", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn send_password_reset(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    Idempotency(idempotency): Idempotency,
) -> Result<Response, Problem> {
    let done = change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::SendPasswordReset,
        Preconditions {
            expected_version: expected,
            idempotency,
        },
    )
    .await?;
    let mut response =
        Accepted::new("A reset link is on its way to the user's email address.").into_response();
    response.headers_mut().extend(done.headers().clone());
    Ok(response)
}

/// `PUT /users/{id}/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The new password; it meets the password policy.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// The person must change it at their next sign-in (advised: the password passed through
    /// someone else's hands).
    #[serde(default)]
    temporary: bool,
}

/// Sets the user's password (administrators; not their own, which they change with the current
/// one). Audited; every session of the user ends, and the user is told by email.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = SetPasswordRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Set", body = UserView),
        (status = 403, description = "Not an administrator, or one's own account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The password does not meet the policy", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn set_password(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    command: JsonCommand<SetPasswordRequest>,
) -> Result<Response, Problem> {
    change_account(
        &state,
        &context,
        &caller,
        &id,
        AccountAction::SetPassword {
            password: command.body.password,
            temporary: command.body.temporary,
        },
        Preconditions {
            expected_version: expected,
            idempotency: command.idempotency,
        },
    )
    .await
}

/// `POST /users/{id}/verify-email` and `/verify-phone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyByHandRequest {
    /// How staff know the address or number is the person's (recorded for auditors).
    #[schema(schema_with = crate::openapi::required_reason)]
    reason: String,
}

/// Marks the user's email address verified by hand, with a reason (administrators; audited).
#[utoipa::path(post, path = "/api/v1/users/{id}/verify-email", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = VerifyByHandRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Verified", body = UserView),
        (status = 403, description = "Not an administrator, or one's own account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already verified", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_email_by_hand(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    command: JsonCommand<VerifyByHandRequest>,
) -> Result<Response, Problem> {
    verify_by_hand(
        &state,
        &context,
        &caller,
        &id,
        expected,
        command,
        |reason| AccountAction::VerifyEmail { reason },
    )
    .await
}

/// Marks the user's phone number verified by hand, with a reason (administrators; audited).
#[utoipa::path(post, path = "/api/v1/users/{id}/verify-phone", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = VerifyByHandRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Verified", body = UserView),
        (status = 403, description = "Not an administrator, or one's own account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already verified", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason, or no phone number", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_phone_by_hand(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    command: JsonCommand<VerifyByHandRequest>,
) -> Result<Response, Problem> {
    verify_by_hand(
        &state,
        &context,
        &caller,
        &id,
        expected,
        command,
        |reason| AccountAction::VerifyPhone { reason },
    )
    .await
}

/// Marks a contact verified by hand: the reason parsed, then the account action `verify` makes
/// of it.
async fn verify_by_hand(
    state: &AppState,
    context: &RequestContext,
    caller: &Caller,
    id: &str,
    expected_version: Option<u64>,
    command: JsonCommand<VerifyByHandRequest>,
    verify: fn(Reason) -> AccountAction,
) -> Result<Response, Problem> {
    let reason = Reason::parse(&command.body.reason).map_err(Problem::from)?;
    let preconditions = Preconditions {
        expected_version,
        idempotency: command.idempotency,
    };
    change_account(state, context, caller, id, verify(reason), preconditions).await
}

/// `GET /users/{id}/lockout`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockoutView {
    is_locked: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "domain::time::micros_option")]
    locked_until: Option<Timestamp>,
    /// `policy` (failed logins) or `admin`.
    #[schema(value_type = Option<String>)]
    locked_by: Option<domain::user::LockKind>,
    failed_attempts: u32,
    remaining_attempts: u32,
}

/// Whether a user is locked, until when, and how many failed logins are left before a lock.
#[utoipa::path(get, path = "/api/v1/users/{id}/lockout", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Lockout state", body = LockoutView),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn lockout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<LockoutView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let lockout = state.lockout(&authority, user_id(&id)?).await?;
    Ok(axum::Json(LockoutView {
        is_locked: lockout.lock.is_some(),
        locked_until: lockout.lock.as_ref().and_then(|lock| lock.until),
        locked_by: lockout.lock.as_ref().map(|lock| lock.kind),
        failed_attempts: lockout.failed_attempts,
        remaining_attempts: lockout.remaining_attempts,
    }))
}

/// Revokes one of a user's open sessions (administrators). The user's other sessions stay;
/// the log records the administrator as the actor.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/sessions/{session_id}",
    tag = "users",
    params(
        ("id" = String, Path, description = "User id"),
        ("session_id" = String, Path, description = "Session id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no such open session of theirs", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn revoke_user_session(
    State(state): State<AppState>,
    caller: Caller,
    context: RequestContext,
    Path((id, session_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let session_id: domain::SessionId = session_id
        .parse()
        .map_err(|_| crate::authz::not_found(application::Resource::Session))?;
    state
        .revoke_user_session(&authority, &context, user_id(&id)?, session_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
