//! A person's rights over their data: to be forgotten (GDPR article 17) and to a copy of
//! everything held about them (article 15).
//!
//! Forgetting destroys the person's data key in the same transaction as `UserForgotten`: the
//! log is never rewritten and its hash chain keeps verifying, but every personal field the
//! person's events hold reads back as erased from then on, and the read models and workers
//! clear what they kept. The API and the command line both come through [`forget`] and
//! [`personal_data`].

use crate::AppState;
use crate::auth::current::Caller;
use crate::auth::sessions::{self, Closing};
use crate::authz::Authority;
use crate::error::{command_problem, user_problem};
use crate::extract::{JsonCommand, RequestContext};
use crate::problem::Problem;
use crate::routes::auth::LOG_POSITION;
use crate::views::UserView;
use application::policy::{Operation, Target};
use audit::history::{HistoryEntry, stream_history};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use commands::{CommandContext, Executed};
use domain::DomainEvent;
use domain::session::RevocationReason;
use domain::user::{Picture, User, UserAggregate, UserCommand, UserEvent, UserState};
use domain::values::Profile;
use domain::{Timestamp, UserId};
use eventstore::encryption::is_sealed;
use futures::TryStreamExt;
use projections::activity::ActivityRow;
use projections::queries::{ActivityFilter, ListedMembership};
use projections::sessions::SessionRow;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
}

/// Forgets `user` (loaded at `version`): ends their sessions, then appends `UserForgotten`,
/// which releases their unique values and destroys their data key.
pub async fn forget(
    state: &AppState,
    context: &RequestContext,
    user: Box<User>,
    version: u64,
    command_context: CommandContext,
    now: Timestamp,
) -> Result<Executed<UserAggregate>, Problem> {
    // First, while their key still seals what a session's end records.
    sessions::close_all(
        state,
        context,
        &user,
        None,
        Closing::Revoke(RevocationReason::UserForgotten),
        now,
    )
    .await?;
    let user_id = user.id.to_string();
    let executed = state
        .commands
        .execute_on::<UserAggregate>(
            &user_id,
            UserState::Present(user),
            version,
            UserCommand::Forget { at: now },
            command_context,
        )
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    // Their data key and released claims are gone from the tables: take the old page images
    // off the disk too (awaited: the command line exits after this). The read models and the
    // delivery log scrub after their own erasing.
    let tables = ["data_keys", "unique_claims"].map(str::to_owned);
    if let Err(error) = state.read.projector.database().scrub(&tables).await {
        tracing::warn!(%error, "scrubbing after a forget failed");
    }
    Ok(executed)
}

/// How many of the user's events hold personal data in clear: written before personal data
/// was encrypted, they cannot be erased by destroying a key (see the README's "Privacy").
pub async fn events_in_clear(state: &AppState, user_id: UserId) -> Result<usize, Problem> {
    let log = state.log();
    let stored = log
        .read_stream_stored(&user_id.to_string())
        .await
        .map_err(|error| Problem::internal(&error))?;
    let decoded = log
        .decode_stored(stored.clone())
        .await
        .map_err(|error| Problem::internal(&error))?;
    let mut in_clear = 0;
    for (stored, decoded) in stored.iter().zip(decoded) {
        let Ok(event) = UserEvent::from_payload(&decoded.event_type, decoded.payload) else {
            continue;
        };
        let clear = event.personal_fields().iter().any(|pointer| {
            stored
                .payload
                .pointer(pointer)
                .is_some_and(|value| !value.is_null() && !is_sealed(value))
        });
        in_clear += usize::from(clear);
    }
    Ok(in_clear)
}

/// `POST /users/{id}/forget`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// The user's password, when they forget themself (administrators send none).
    #[schema(value_type = Option<String>)]
    password: Option<SecretString>,
}

/// What is left of a forgotten user.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForgottenView {
    /// Id.
    pub id: String,
    /// Always `forgotten`.
    pub status: &'static str,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub forgotten_at: Timestamp,
    /// How many of their events were written before personal data was encrypted: those keep
    /// their personal data in clear in the log (0 for anyone registered since).
    pub events_in_clear: usize,
}

/// Forgets a user for good: their sessions end, their email, username and phone become free,
/// and their personal data in the log, the read models, the delivery log and storage is erased.
/// The log keeps the events (personal fields unreadable), so its chain still verifies.
#[utoipa::path(post, path = "/api/v1/users/{id}/forget", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = ForgetRequest, security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many password checks or reset links for this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Forgotten", body = ForgottenView),
        crate::openapi::BodyErrors,
        (status = 403, description = "Not an administrator, or the user's own password is wrong or missing", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user (or forgotten already)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn forget_user(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    command: JsonCommand<ForgetRequest>,
) -> Result<Response, Problem> {
    let user_id: UserId = id.parse().map_err(|_| not_found())?;
    let now = chrono::Utc::now();
    let command_context = CommandContext {
        metadata: caller.metadata(&context, user_id),
        idempotency: command.idempotency,
        ..Default::default()
    };
    let mut authority = Authority::of(&state, &caller).await?;
    let (user, version) = if caller.is(user_id) {
        // A person forgetting themself proves it is them, as for turning off MFA.
        authority
            .confirm_password(&state, &caller, command.body.password, "/password")
            .await?;
        let person = authority.person(&state, &caller.user);
        authority.require(Operation::ForgetUser, Target::Person(&person), not_found)?;
        (caller.user.clone(), caller.version)
    } else {
        match present_user(&state, user_id).await {
            Ok((user, version)) => {
                let person = authority.person(&state, &user);
                authority.require(Operation::ForgetUser, Target::Person(&person), not_found)?;
                (user, version)
            }
            // A retry of a forgetting that went through answers as the first time did.
            Err(_) if command_context.idempotency.is_some() => {
                let person = authority.person_without_roles(user_id);
                authority.require(Operation::ForgetUser, Target::Person(&person), not_found)?;
                let replayed = state
                    .commands
                    .execute::<UserAggregate>(
                        &user_id.to_string(),
                        UserCommand::Forget { at: now },
                        command_context,
                    )
                    .await
                    .map_err(|error| command_problem(error, user_problem))?;
                return Ok(forgotten_answer(user_id, &replayed, 0, now));
            }
            Err(problem) => return Err(problem),
        }
    };
    let events_in_clear = events_in_clear(&state, user_id).await?;
    let executed = forget(&state, &context, user, version, command_context, now).await?;
    Ok(forgotten_answer(user_id, &executed, events_in_clear, now))
}

fn forgotten_answer(
    user_id: UserId,
    executed: &Executed<UserAggregate>,
    events_in_clear: usize,
    now: Timestamp,
) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(position) = executed.position {
        headers.insert(LOG_POSITION, HeaderValue::from(position));
    }
    let forgotten_at = match &executed.state {
        UserState::Forgotten(forgotten) => forgotten.forgotten_at.unwrap_or(now),
        _ => now,
    };
    (
        StatusCode::OK,
        headers,
        axum::Json(ForgottenView {
            id: user_id.to_string(),
            status: "forgotten",
            forgotten_at,
            events_in_clear,
        }),
    )
        .into_response()
}

/// The user now, if they exist and are not forgotten.
async fn present_user(state: &AppState, user_id: UserId) -> Result<(Box<User>, u64), Problem> {
    let current = state
        .commands
        .current::<UserAggregate>(&user_id.to_string())
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    match current.state {
        UserState::Present(user) => Ok((user, current.version)),
        UserState::Absent | UserState::Forgotten(_) => Err(not_found()),
    }
}

/// Everything idlog holds about one person, as one document.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalData {
    /// `idlog.personal-data.v1`.
    pub format: &'static str,
    /// When this copy was made.
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: Timestamp,
    /// The account: names, contact details, roles, status, verification.
    pub user: UserView,
    /// The profile they manage (address, emergency contact, language, notification preferences).
    #[schema(value_type = Object)]
    pub profile: Profile,
    /// Their profile picture's key and type, if any.
    #[schema(value_type = Option<Object>)]
    pub picture: Option<Picture>,
    /// Whether two-factor authentication is on.
    pub mfa_enabled: bool,
    /// Their organizations and roles there.
    #[schema(value_type = Vec<Object>)]
    pub organizations: Vec<ListedMembership>,
    /// Their sessions: devices, addresses, times.
    #[schema(value_type = Vec<Object>)]
    pub sessions: Vec<SessionRow>,
    /// The activity log's rows about them or done by them.
    #[schema(value_type = Vec<Object>)]
    pub activity: Vec<ActivityRow>,
    /// Their events, decrypted (secrets such as password hashes left out).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<HistoryEntry>,
    /// Their sessions' events, decrypted, by session id.
    #[schema(value_type = Object)]
    pub session_events: BTreeMap<String, Vec<HistoryEntry>>,
}

/// Gathers [`PersonalData`] for `user_id`, from the log and the read models as they are now.
pub async fn personal_data(state: &AppState, user_id: UserId) -> Result<PersonalData, Problem> {
    let (user, _) = present_user(state, user_id).await?;
    let id = user_id.to_string();
    let queries = &state.read.queries;
    let query_problem = |error: projections::queries::QueryError| Problem::internal(&error);
    let organizations = queries
        .user(&id)
        .await
        .map_err(query_problem)?
        .map(|listed| listed.organizations)
        .unwrap_or_default();
    let sessions = queries.sessions(&id).await.map_err(query_problem)?;
    let mut activity: BTreeMap<i64, ActivityRow> = BTreeMap::new();
    for filter in [
        ActivityFilter {
            user: Some(id.clone()),
            ..Default::default()
        },
        ActivityFilter {
            actor: Some(id.clone()),
            ..Default::default()
        },
    ] {
        let pages: Vec<Vec<ActivityRow>> = queries
            .activity_export(filter)
            .try_collect()
            .await
            .map_err(query_problem)?;
        activity.extend(pages.into_iter().flatten().map(|row| (row.position, row)));
    }
    // Who acted on them and from where is the actor's personal data, not theirs: an
    // administrator's address and user agent stay out of this person's copy.
    for row in activity.values_mut() {
        if row.actor_id.as_deref() != Some(id.as_str()) {
            row.ip = None;
            row.user_agent = None;
        }
    }
    let theirs_only = |mut history: Vec<HistoryEntry>| {
        for entry in &mut history {
            if entry.actor.id.as_deref() != Some(id.as_str()) {
                entry.ip = None;
                entry.user_agent = None;
            }
        }
        history
    };
    let log = state.log();
    let events = theirs_only(
        stream_history(log, &id)
            .await
            .map_err(|error| Problem::internal(&error))?,
    );
    let mut session_events = BTreeMap::new();
    for (session_id, _) in &user.sessions {
        let session_id = session_id.to_string();
        let history = stream_history(log, &session_id)
            .await
            .map_err(|error| Problem::internal(&error))?;
        session_events.insert(session_id, theirs_only(history));
    }
    let now = chrono::Utc::now();
    Ok(PersonalData {
        format: "idlog.personal-data.v1",
        exported_at: now,
        user: UserView::new(&user, now),
        profile: user.profile.clone(),
        picture: user.picture.clone(),
        mfa_enabled: user.has_mfa(),
        organizations,
        sessions,
        activity: activity.into_values().collect(),
        events,
        session_events,
    })
}

/// A copy of everything idlog holds about a user, as one JSON document: the account and
/// profile, organizations, sessions, activity, and their events decrypted.
#[utoipa::path(get, path = "/api/v1/users/{id}/export", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's data", body = PersonalData),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may export", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn export_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let user_id: UserId = id.parse().map_err(|_| not_found())?;
    let authority = Authority::of(&state, &caller).await?;
    // What is left of a forgotten user is exported as such.
    let person = match present_user(&state, user_id).await {
        Ok((user, _)) => authority.person(&state, &user),
        Err(_) => authority.person_without_roles(user_id),
    };
    authority.require(Operation::ExportUser, Target::Person(&person), not_found)?;
    let data = personal_data(&state, user_id).await?;
    let mut headers = HeaderMap::new();
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"idlog-user-{user_id}.json\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok((StatusCode::OK, headers, axum::Json(data)).into_response())
}
