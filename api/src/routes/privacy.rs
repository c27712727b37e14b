//! A person's rights over their data: to be forgotten (GDPR article 17) and to a copy of
//! everything held about them (article 15).
//!
//! Forgetting destroys the person's data key in the same transaction as `UserForgotten`: the
//! log is never rewritten and its hash chain keeps verifying, but every personal field the
//! person's events hold reads back as erased from then on, and the read models and workers
//! clear what they kept. The use cases are the application's (`application::privacy`).

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{JsonCommand, RequestContext};
use crate::problem::Problem;
use crate::routes::auth::LOG_POSITION;
use crate::routes::users::user_id;
use application::authority::Authority;
use application::privacy::{Forgotten, PersonalData};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{Timestamp, UserId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    #[serde(serialize_with = "domain::time::micros")]
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
    let user_id = user_id(&id)?;
    let mut authority = Authority::of(&state, &caller).await?;
    let forgotten = state
        .forget_user(
            &mut authority,
            &context,
            user_id,
            command.body.password,
            command.idempotency,
        )
        .await?;
    Ok(forgotten_answer(user_id, &forgotten))
}

fn forgotten_answer(user_id: UserId, forgotten: &Forgotten) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(position) = forgotten.executed.position {
        headers.insert(LOG_POSITION, HeaderValue::from(position));
    }
    (
        StatusCode::OK,
        headers,
        axum::Json(ForgottenView {
            id: user_id.to_string(),
            status: "forgotten",
            forgotten_at: forgotten.forgotten_at,
            events_in_clear: forgotten.events_in_clear,
        }),
    )
        .into_response()
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
    let user_id = user_id(&id)?;
    let authority = Authority::of(&state, &caller).await?;
    let data = state.export_user(&authority, user_id).await?;
    let mut headers = HeaderMap::new();
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"idlog-user-{user_id}.json\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok((StatusCode::OK, headers, axum::Json(data)).into_response())
}
