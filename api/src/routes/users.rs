//! `/api/v1/users/...`: user administration.
//!
//! Who may do what is the policy's (`application::policy`): administrators everything; a person
//! their own names, username, email and phone (email and phone with a fresh proof: their current
//! password or a recent sign-in), profile and picture; an organization's org_admins read their
//! members' directory entries. Someone the caller may not see is "not found"; what they see but
//! may not do is 403. Every command takes `If-Match` (the `ETag` of a read) and
//! `Idempotency-Key`.

use crate::AppState;
use crate::accounts::{Creator, NewAccount};
use crate::auth::current::Caller;
use crate::auth::sessions::{self, Closing};
use crate::authz::Authority;
use crate::error::{command_problem, create_account_problem, user_problem};
use crate::extract::{Idempotency, IfMatch, JsonCommand, RequestContext, etag};
use crate::pictures::PictureError;
use crate::problem::{FieldErrors, Problem};
use crate::routes::auth::{Accepted, LOG_POSITION};
use crate::routes::{invitations, organizations};
use crate::views::UserView;
use application::policy::{Operation, Target};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use commands::{CommandContext, Executed};
use domain::organization::OrgRole;
use domain::session::RevocationReason;
use domain::user::{User, UserAggregate, UserCommand, UserState};
use domain::values::{Email, PersonName, PhoneNumber, Reason, Role, Username};
use domain::{Timestamp, UserId};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
}

/// The user at `id` if the policy lets the caller do `operation` to them, with its stream
/// version; "not found" when there is no such user or the caller may not see them.
pub(crate) async fn authorized_user(
    state: &AppState,
    caller: &Caller,
    authority: &Authority,
    id: &str,
    read: Read,
    operation: Operation,
) -> Result<(Box<User>, u64), Problem> {
    let user_id: UserId = id.parse().map_err(|_| not_found())?;
    let (user, version) = if caller.is(user_id) && read == Read::Followed {
        // Read for this very request already.
        (caller.user.clone(), caller.version)
    } else {
        let loaded = match read {
            Read::Latest => {
                state
                    .commands
                    .current::<UserAggregate>(&user_id.to_string())
                    .await
            }
            Read::Followed => {
                state
                    .commands
                    .followed::<UserAggregate>(&user_id.to_string())
                    .await
            }
        }
        .map_err(|error| command_problem(error, user_problem))?;
        let UserState::Present(user) = loaded.state else {
            return Err(not_found());
        };
        (user, loaded.version)
    };
    let person = authority.person(state, &user);
    authority.require(operation, Target::Person(&person), not_found)?;
    Ok((user, version))
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
    authorized_user(state, caller, &authority, id, read, operation).await
}

/// How current a user read for a request must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// The latest in the log: for answers that show the user (`GET`).
    Latest,
    /// As this process has followed the log: for deciding a command, whose append checks the
    /// version anyway.
    Followed,
}

/// The answer to a command on a user: the user, its `ETag` and the log position.
fn user_answer(
    status: StatusCode,
    executed: &Executed<UserAggregate>,
    now: Timestamp,
) -> Result<Response, Problem> {
    let UserState::Present(user) = &executed.state else {
        return Err(not_found());
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
    current: &Option<PersonName>,
) -> Option<PersonName> {
    match raw {
        None => current.clone(),
        Some(None) => None,
        Some(Some(raw)) => fields.parse(raw, PersonName::parse, pointer),
    }
}

/// Global roles from the catalog.
fn catalog_roles(fields: &mut FieldErrors, state: &AppState, names: &[String]) -> BTreeSet<Role> {
    fields.from_catalog(
        names,
        |name| state.auth.roles.role(name),
        "/roles",
        || state.auth.roles.names(),
    )
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
    let organization = match &body.organization {
        Some(raw) => {
            let (organization, _) = organizations::authorized_organization(
                &state,
                &authority,
                raw,
                Operation::CreateUser,
            )
            .await
            .map_err(|problem| {
                if problem.status == 404 {
                    Problem::validation().with_field("/organization", "no such organization")
                } else {
                    problem
                }
            })?;
            Some(organization)
        }
        None => {
            authority.require(Operation::CreateUser, Target::Everything, not_found)?;
            None
        }
    };
    if body.roles.is_some() {
        authority.require(Operation::ChangeRoles, Target::Everything, not_found)?;
    }
    // Who may only invite (an org_admin) creates the account as an invitation: the person sets
    // their own password and joins when they accept.
    let adds_directly = authority.allows(Operation::CreateUser, Target::Everything);
    if !adds_directly && body.password.is_some() {
        return Err(
            Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed").with_field(
                "/password",
                "an org_admin creates accounts as invitations: the person sets their own password",
            ),
        );
    }
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
    let roles = catalog_roles(
        &mut fields,
        &state,
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
    };
    let creator = Creator {
        commands: &state.commands,
        passwords: &state.passwords,
        tokens: &state.tokens,
        invitation_lifetime: state.auth.invitation_lifetime,
    };
    // The new user's id is not known yet: the actor is the administrator.
    let metadata = context.metadata(eventstore::Actor {
        kind: eventstore::ActorKind::Admin,
        id: Some(caller.user.id.to_string()),
    });
    let context = CommandContext {
        metadata,
        idempotency: command.idempotency,
        ..Default::default()
    };
    let metadata = context.metadata.clone();
    let executed = creator
        .create(account, context)
        .await
        .map_err(create_account_problem)?;
    if let (Some(organization), UserState::Present(user)) = (organization, &executed.state)
        && !executed.replayed
    {
        let role = body.organization_role.unwrap_or(OrgRole::Member);
        if adds_directly {
            let member_context = CommandContext {
                metadata,
                data_subject: Some(organization.id.to_string()),
                ..Default::default()
            };
            organizations::add_member(
                &state,
                member_context,
                organization.id,
                user,
                role,
                BTreeSet::new(),
            )
            .await?;
        } else {
            let offer = invitations::Offer {
                role,
                permissions: BTreeSet::new(),
            };
            invitations::invite(&state, metadata, &organization, user, offer).await?;
        }
    }
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
        crate::routes::audit::history_subject(&state, &caller, &id).await?;
        return crate::routes::audit::past_user(&state, &id, &point).await;
    }
    let (user, version) = user_for(&state, &caller, &id, Read::Latest, Operation::ReadUser).await?;
    let mut response = axum::Json(UserView::new(&user, chrono::Utc::now())).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    Ok(response)
}

/// A field that may be absent (leave it), `null` (remove it) or a value.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `PATCH /users/{id}`: only the fields sent change; `null` removes an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = crate::openapi::person_name_or_null)]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = crate::openapi::username_or_null)]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
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
    let (user, version) = authorized_user(
        &state,
        &caller,
        &authority,
        &id,
        Read::Followed,
        Operation::ReadUser,
    )
    .await?;
    let body = command.body;
    let asked = [
        (
            body.first_name.is_some() || body.last_name.is_some(),
            Operation::ChangeNames,
        ),
        (body.username.is_some(), Operation::ChangeUsername),
        (body.email.is_some(), Operation::ChangeEmail),
        (body.phone.is_some(), Operation::ChangePhone),
        (body.roles.is_some(), Operation::ChangeRoles),
    ];
    let person = authority.person(&state, &user);
    if body.current_password.is_some() {
        authority
            .confirm_password(&state, &caller, body.current_password, "/current_password")
            .await?;
    }
    for operation in asked
        .into_iter()
        .filter_map(|(sent, operation)| sent.then_some(operation))
    {
        authority.require(operation, Target::Person(&person), not_found)?;
    }
    let now = chrono::Utc::now();
    let mut fields = FieldErrors::default();
    let mut changes = Vec::new();
    if body.first_name.is_some() || body.last_name.is_some() {
        let first_name = name_change(
            &mut fields,
            &body.first_name,
            "/first_name",
            &user.first_name,
        );
        let last_name = name_change(&mut fields, &body.last_name, "/last_name", &user.last_name);
        changes.push(UserCommand::UpdateProfile {
            first_name,
            last_name,
            profile: user.profile.clone(),
            at: now,
        });
    }
    if let Some(username) = &body.username {
        let username = username
            .as_deref()
            .and_then(|raw| fields.parse(raw, Username::parse, "/username"));
        changes.push(UserCommand::ChangeUsername { username, at: now });
    }
    if let Some(phone) = &body.phone {
        let phone = phone
            .as_deref()
            .and_then(|raw| fields.parse(raw, PhoneNumber::parse, "/phone"));
        changes.push(UserCommand::ChangePhone { phone, at: now });
    }
    if let Some(email) = body
        .email
        .as_deref()
        .and_then(|raw| fields.parse(raw, Email::parse, "/email"))
    {
        let (verification, _) = state.tokens.issue(
            crate::auth::tokens::TokenPurpose::EmailVerification,
            user.id,
            now,
            state.auth.email_verification_lifetime,
        );
        changes.push(UserCommand::ChangeEmail {
            email,
            verification,
        });
    }
    if let Some(names) = &body.roles {
        let wanted = catalog_roles(&mut fields, &state, names);
        for role in user.roles.difference(&wanted) {
            changes.push(UserCommand::RevokeRole {
                role: role.clone(),
                at: now,
            });
        }
        for role in wanted.difference(&user.roles) {
            changes.push(UserCommand::GrantRole {
                role: role.clone(),
                at: now,
            });
        }
    }
    fields.finish()?;
    let context = CommandContext {
        metadata: caller.metadata(&context, user.id),
        idempotency: command.idempotency,
        expected_version,
        ..Default::default()
    };
    let executed = state
        .commands
        .execute_on::<UserAggregate>(
            &user.id.to_string(),
            UserState::Present(user.clone()),
            version,
            UserCommand::Batch(changes),
            context,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    user_answer(StatusCode::OK, &executed, now)
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

/// A command's HTTP preconditions: `If-Match` and `Idempotency-Key`.
struct Preconditions {
    expected_version: Option<u64>,
    idempotency: Option<eventstore::IdempotencyKey>,
}

/// Runs an administrator's lifecycle command on a user, over HTTP.
async fn lifecycle(
    state: &AppState,
    context: &RequestContext,
    caller: &Caller,
    id: &str,
    operation: Operation,
    command: impl FnOnce(Timestamp) -> UserCommand,
    preconditions: Preconditions,
) -> Result<Response, Problem> {
    let (user, version) = user_for(state, caller, id, Read::Followed, operation).await?;
    let now = chrono::Utc::now();
    let command_context = CommandContext {
        metadata: caller.metadata(context, user.id),
        idempotency: preconditions.idempotency,
        expected_version: preconditions.expected_version,
        ..Default::default()
    };
    let executed = apply_lifecycle(
        state,
        context,
        user,
        version,
        command(now),
        command_context,
        now,
    )
    .await?;
    user_answer(StatusCode::OK, &executed, now)
}

/// Runs a lifecycle command (lock, unlock, deactivate, reactivate, delete, password reset) on
/// `user`, loaded at `version`; a lock, deactivation or deletion ends the user's sessions. The
/// API and the command line both come through here.
pub async fn apply_lifecycle(
    state: &AppState,
    context: &RequestContext,
    user: Box<User>,
    version: u64,
    command: UserCommand,
    command_context: CommandContext,
    now: Timestamp,
) -> Result<Executed<UserAggregate>, Problem> {
    let ends_sessions = match &command {
        UserCommand::Lock { .. } => Some(RevocationReason::UserLocked),
        UserCommand::Deactivate { .. } => Some(RevocationReason::UserDeactivated),
        UserCommand::Delete { .. } => Some(RevocationReason::UserDeleted),
        _ => None,
    };
    let executed = state
        .commands
        .execute_on::<UserAggregate>(
            &user.id.to_string(),
            UserState::Present(user),
            version,
            command,
            command_context,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    if let (Some(reason), UserState::Present(after)) = (ends_sessions, &executed.state) {
        sessions::close_all(state, context, after, None, Closing::Revoke(reason), now).await?;
    }
    Ok(executed)
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
    lifecycle(
        &state,
        &context,
        &caller,
        &id,
        Operation::LockUser,
        |at| UserCommand::Lock { reason, until, at },
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
    lifecycle(
        &state,
        &context,
        &caller,
        &id,
        Operation::UnlockUser,
        |at| UserCommand::Unlock { at },
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
    lifecycle(
        &state,
        &context,
        &caller,
        &id,
        Operation::DeactivateUser,
        |at| UserCommand::Deactivate { reason, at },
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
    lifecycle(
        &state,
        &context,
        &caller,
        &id,
        Operation::ReactivateUser,
        |at| UserCommand::Reactivate { at },
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
    lifecycle(
        &state,
        &context,
        &caller,
        &id,
        Operation::DeleteUser,
        |at| UserCommand::Delete { at },
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
    // Reset links to one account are limited as the forgot-password ones are, whoever asks.
    let (user, _) = user_for(
        &state,
        &caller,
        &id,
        Read::Followed,
        Operation::SendPasswordReset,
    )
    .await?;
    state
        .rate_limits
        .forgot_per_account
        .check(user.email.as_str())?;
    let lifetime = state.auth.password_reset_lifetime;
    let tokens = state.tokens.clone();
    let user_id = user.id;
    let command = move |at| UserCommand::RequestPasswordReset {
        token: tokens
            .issue(
                crate::auth::tokens::TokenPurpose::PasswordReset,
                user_id,
                at,
                lifetime,
            )
            .0,
    };
    let done = lifecycle(
        &state,
        &context,
        &caller,
        &id,
        Operation::SendPasswordReset,
        command,
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

/// `GET /users/{id}/lockout`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockoutView {
    is_locked: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
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
    let (user, _) = user_for(&state, &caller, &id, Read::Latest, Operation::ReadLockout).await?;
    let now = chrono::Utc::now();
    let lock = user.active_lock(now);
    // After a lock has run out the count starts again (as the domain counts).
    let failed_attempts = if user.lock.is_some() && lock.is_none() {
        0
    } else {
        user.failed_logins
    };
    Ok(axum::Json(LockoutView {
        is_locked: lock.is_some(),
        locked_until: lock.and_then(|lock| lock.until),
        locked_by: lock.map(|lock| lock.kind),
        failed_attempts,
        remaining_attempts: if lock.is_some() {
            0
        } else {
            state
                .auth
                .lockout
                .max_failed_attempts
                .saturating_sub(failed_attempts)
        },
    }))
}

/// `PUT /users/{id}/profile`: the whole profile (names live on the user).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// `{line1, line2?, city, region?, postal_code?, country}` (ISO 3166-1 alpha-2).
    #[schema(value_type = Option<Object>)]
    address: Option<domain::values::Address>,
    /// `{name, phone}` (E.164).
    #[schema(value_type = Option<Object>)]
    emergency_contact: Option<domain::values::EmergencyContact>,
    /// A BCP 47 language tag, such as `en` or `pt-BR`.
    #[schema(value_type = Option<String>)]
    preferred_language: Option<domain::values::LanguageTag>,
    /// Any JSON object up to 4 KiB.
    #[serde(default)]
    #[schema(value_type = Object)]
    notification_preferences: domain::values::NotificationPreferences,
}

fn profile_answer(profile: &domain::values::Profile, version: u64) -> Response {
    let mut response = axum::Json(profile).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// A user's profile (the user themself, administrators, and org_admins of their organizations).
#[utoipa::path(get, path = "/api/v1/users/{id}/profile", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = Object),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn get_profile(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (user, version) =
        user_for(&state, &caller, &id, Read::Latest, Operation::ReadProfile).await?;
    Ok(profile_answer(&user.profile, version))
}

/// Replaces a user's profile (the user themself and administrators).
#[utoipa::path(put, path = "/api/v1/users/{id}/profile", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = ProfileRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = Object),
        crate::openapi::AuthErrors,
        (status = 403, description = "Someone else's profile", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn put_profile(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected_version): IfMatch,
    command: JsonCommand<ProfileRequest>,
) -> Result<Response, Problem> {
    let (user, version) = user_for(
        &state,
        &caller,
        &id,
        Read::Followed,
        Operation::ChangeProfile,
    )
    .await?;
    let body = command.body;
    let profile = domain::values::Profile {
        address: body.address,
        emergency_contact: body.emergency_contact,
        preferred_language: body.preferred_language,
        notification_preferences: body.notification_preferences,
    };
    let update = UserCommand::UpdateProfile {
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        profile,
        at: chrono::Utc::now(),
    };
    let context = CommandContext {
        metadata: caller.metadata(&context, user.id),
        idempotency: command.idempotency,
        expected_version,
        ..Default::default()
    };
    let executed = state
        .commands
        .execute_on::<UserAggregate>(
            &user.id.to_string(),
            UserState::Present(user.clone()),
            version,
            update,
            context,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    let UserState::Present(after) = &executed.state else {
        return Err(not_found());
    };
    let mut response = profile_answer(&after.profile, executed.stream_version);
    if let Some(position) = executed.position {
        response
            .headers_mut()
            .insert(LOG_POSITION, HeaderValue::from(position));
    }
    Ok(response)
}

/// The largest profile picture accepted, in bytes.
pub const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;

/// Where a user's profile picture is stored.
fn picture_key(user_id: UserId, extension: &str) -> String {
    format!("accounts/{user_id}/profile/picture.{extension}")
}

/// Stores a profile picture: the raw image is the body, a PNG, JPEG or WebP (told by its bytes)
/// of at most 5 MiB and 40 megapixels that decodes whole; what is stored is the image encoded
/// again, without metadata.
#[utoipa::path(post, path = "/api/v1/users/{id}/profile/picture", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body(content = Vec<u8>, content_type = "image/*", description = "The image's bytes"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored", body = Object),
        crate::openapi::AuthErrors,
        (status = 403, description = "Someone else's picture", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 5 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PNG, JPEG or WebP image", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The image does not decode, or has over 40 megapixels", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn put_picture(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let (user, version) = user_for(
        &state,
        &caller,
        &id,
        Read::Followed,
        Operation::ChangeProfile,
    )
    .await?;
    let decoded = tokio::task::spawn_blocking(move || crate::pictures::reencode(&body))
        .await
        .map_err(|error| Problem::internal(&error))?;
    let image = decoded.map_err(|error| match error {
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
    })?;
    let content_type = image.content_type;
    let body = image.bytes;
    let picture = domain::user::Picture {
        key: picture_key(user.id, image.extension),
        content_type: content_type.to_owned(),
        size: body.len() as u64,
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)),
    };
    // Stored first: an event never points at a missing object. A stored object with no event
    // (a crash between) is replaced by the next upload, or found by the storage check.
    state
        .objects
        .put(&picture.key, &body, content_type)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let replaced = user
        .picture
        .as_ref()
        .map(|old| old.key.clone())
        .filter(|old| *old != picture.key);
    let command = UserCommand::SetProfilePicture {
        picture,
        at: chrono::Utc::now(),
    };
    let metadata = CommandContext {
        metadata: caller.metadata(&context, user.id),
        ..Default::default()
    };
    let executed = state
        .commands
        .execute_on::<UserAggregate>(
            &user.id.to_string(),
            UserState::Present(user.clone()),
            version,
            command,
            metadata,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    if let Some(old) = replaced
        && let Err(error) = state.objects.delete(&old).await
    {
        tracing::warn!(%error, "the replaced picture stays in storage");
    }
    let UserState::Present(after) = &executed.state else {
        return Err(not_found());
    };
    let mut response = axum::Json(&after.picture).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(executed.stream_version));
    Ok(response)
}

/// The profile picture's bytes.
#[utoipa::path(get, path = "/api/v1/users/{id}/profile/picture", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image", content_type = "image/*"),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user or picture, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn get_picture(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (user, _) = user_for(&state, &caller, &id, Read::Latest, Operation::ReadProfile).await?;
    let no_picture = || Problem::new(StatusCode::NOT_FOUND, "no-picture", "No profile picture");
    let picture = user.picture.as_ref().ok_or_else(no_picture)?;
    let object = state
        .objects
        .get(&picture.key)
        .await
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(no_picture)?;
    // Served as the image it was stored as and nothing else: no sniffing, no active content.
    let content_type = match picture.content_type.as_str() {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox",
            ),
        ],
        object.bytes,
    )
        .into_response())
}

/// Removes the profile picture.
#[utoipa::path(delete, path = "/api/v1/users/{id}/profile/picture", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Someone else's picture", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or picture", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn delete_picture(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let (user, version) = user_for(
        &state,
        &caller,
        &id,
        Read::Followed,
        Operation::ChangeProfile,
    )
    .await?;
    let key = user.picture.as_ref().map(|picture| picture.key.clone());
    let metadata = CommandContext {
        metadata: caller.metadata(&context, user.id),
        ..Default::default()
    };
    let command = UserCommand::RemoveProfilePicture {
        at: chrono::Utc::now(),
    };
    state
        .commands
        .execute_on::<UserAggregate>(
            &user.id.to_string(),
            UserState::Present(user.clone()),
            version,
            command,
            metadata,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    // The event first: a failed delete leaves an unreferenced file, never a dangling reference.
    if let Some(key) = key
        && let Err(error) = state.objects.delete(&key).await
    {
        tracing::warn!(%error, "the removed picture stays in storage");
    }
    Ok(StatusCode::NO_CONTENT)
}
