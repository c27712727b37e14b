//! `/api/v1/admin/...`: operators' actions over HTTP (administrators only).

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::ApiJson;
use crate::problem::Problem;
use application::administration::{Delivery, DeliveryFilter, RepairReport, StorageReport};
use application::authority::Authority;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

/// Checks that every user has their folder structure and that nothing else is stored.
#[utoipa::path(
    post,
    path = "/api/v1/admin/storage/verify",
    tag = "admin",
    responses(
        (status = 200, description = "The differences (empty lists: all is well)", body = Object),
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The users read model is behind", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn verify_storage(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<StorageReport>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(state.verify_storage(&authority).await?))
}

/// What to repair.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebuildRequest {
    /// Also remove the folders of deleted and unknown users.
    #[serde(default)]
    prune: bool,
}

/// Recreates what is missing and, with `prune`, removes orphans.
#[utoipa::path(
    post,
    path = "/api/v1/admin/storage/rebuild",
    tag = "admin",
    request_body = RebuildRequest,
    responses(
        (status = 200, description = "What was repaired", body = Object),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The users read model is behind", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn rebuild_storage(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<RebuildRequest>,
) -> Result<axum::Json<RepairReport>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state.rebuild_storage(&authority, request.prune).await?,
    ))
}

/// Which messages to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `sending`, `sent`, `failed` or `dead`.
    #[param(schema_with = crate::openapi::delivery_status)]
    status: Option<String>,
    /// A template, e.g. `welcome`, `password_reset`, `phone_verification`.
    template: Option<String>,
    /// An email address or phone number.
    recipient: Option<String>,
    /// The event that called for the message.
    event_id: Option<String>,
    /// Only messages of events before this log position (the previous page's `next_before`).
    before: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A page of the delivery log.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct DeliveryPage {
    /// The messages, newest event first.
    #[schema(value_type = Vec<Object>)]
    items: Vec<Delivery>,
    /// Pass as `before` for the next page; absent on the last.
    next_before: Option<i64>,
}

/// The delivery log: per message (email or SMS) the event, recipient, template, attempts, status
/// and last error.
#[utoipa::path(
    get,
    path = "/api/v1/admin/deliveries",
    tag = "admin",
    params(DeliveryQuery),
    responses(
        (status = 200, description = "A page of messages", body = DeliveryPage),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<DeliveryQuery>,
) -> Result<axum::Json<DeliveryPage>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let limit = query.limit.unwrap_or(100);
    let filter = DeliveryFilter {
        status: query.status,
        template: query.template,
        recipient: query.recipient,
        event_id: query.event_id,
        before_position: query.before,
        limit,
    };
    let items = state.deliveries(&authority, &filter).await?;
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|last| last.position))
        .flatten();
    Ok(axum::Json(DeliveryPage { items, next_before }))
}

/// The processing behind the log: read models and workers.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ProcessingView {
    /// The log's last position.
    head: u64,
    /// Each read model's position, lag, state and open dead letters.
    read_models: Vec<projections::Status>,
    /// The read models' unresolved dead letters, newest first.
    read_model_dead_letters: Vec<projections::DeadLetter>,
    /// Each worker of this process: position, lag, open dead letters, whether its bus answers
    /// (absent when this process runs no workers).
    #[schema(value_type = Option<Vec<Object>>)]
    workers: Option<Vec<application::administration::WorkerStatus>>,
    /// Their unresolved dead letters, newest first.
    #[schema(value_type = Vec<Object>)]
    worker_dead_letters: Vec<application::administration::WorkerLetter>,
}

/// Read models' and workers' positions, lag and dead letters (what `idlog projections status`
/// and `idlog workers status` show).
#[utoipa::path(
    get,
    path = "/api/v1/admin/processing",
    tag = "admin",
    responses(
        (status = 200, description = "The processing", body = ProcessingView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn processing(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ProcessingView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let processing = state.processing(&authority).await?;
    Ok(axum::Json(ProcessingView {
        head: processing.head,
        read_models: processing.read_models,
        read_model_dead_letters: processing.read_model_letters,
        workers: processing.workers,
        worker_dead_letters: processing.worker_letters,
    }))
}

/// Lets a read model stopped at a dead letter try the event again.
#[utoipa::path(
    post,
    path = "/api/v1/admin/read-models/{name}/retry",
    tag = "admin",
    params(("name" = String, Path, description = "The read model, e.g. `directory`")),
    responses(
        (status = 204, description = "It tries the event again"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No read model has this name", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The read model is not stopped", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn retry_read_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    state.retry_read_model(&authority, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What skipping did.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Skipped {
    /// The position of the event the read model will not reflect (until rebuilt).
    skipped: u64,
}

/// Moves a read model stopped at a dead letter past the event, which it will never reflect
/// (until rebuilt).
#[utoipa::path(
    post,
    path = "/api/v1/admin/read-models/{name}/skip",
    tag = "admin",
    params(("name" = String, Path, description = "The read model, e.g. `directory`")),
    responses(
        (status = 200, description = "Skipped", body = Skipped),
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No read model has this name", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The read model is not stopped", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn skip_read_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<axum::Json<Skipped>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let skipped = state.skip_read_model(&authority, &name).await?;
    Ok(axum::Json(Skipped { skipped }))
}

/// Which workers' dead letters to try again.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryLettersRequest {
    /// One dead letter's id; all of them when absent.
    id: Option<i64>,
}

/// Tries workers' dead letters again, once each: one by id, or all.
#[utoipa::path(
    post,
    path = "/api/v1/admin/workers/dead-letters/retry",
    tag = "admin",
    request_body = RetryLettersRequest,
    responses(
        (status = 200, description = "How many went through and how many still fail", body = Object),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This process runs no workers", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn retry_worker_letters(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<RetryLettersRequest>,
) -> Result<axum::Json<application::administration::WorkerRetry>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state.retry_worker_letters(&authority, request.id).await?,
    ))
}
