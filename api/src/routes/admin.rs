//! `/api/v1/admin/...`: operators' actions over HTTP (administrators only).

use crate::AppState;
use crate::auth::current::Caller;
use crate::authz::Authority;
use crate::extract::ApiJson;
use crate::problem::Problem;
use application::policy::{Operation, Target};
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use workers::storage::{RepairReport, StorageReport, StorageWorker};

/// The storage check: every user the directory holds (brought up to date first) against the
/// object store.
async fn check(state: &AppState) -> Result<(StorageWorker, StorageReport), Problem> {
    let head = state
        .log()
        .head()
        .await
        .map_err(|error| Problem::internal(&error))?
        .position;
    let reached = state
        .read
        .projector
        .wait_for(
            head,
            &[projections::directory::NAME],
            state.read.wait_timeout,
        )
        .await
        .map_err(|error| Problem::internal(&error))?;
    if !reached {
        return Err(Problem::unavailable(
            "the users read model has not caught up; try again shortly",
        ));
    }
    let users = state
        .read
        .queries
        .live_user_ids()
        .await
        .map_err(|error| Problem::internal(&error))?;
    let storage = StorageWorker::new(state.objects.clone(), state.commands.clone());
    let report = storage
        .verify(&users)
        .await
        .map_err(|error| Problem::internal(&error))?;
    Ok((storage, report))
}

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
    storage_managers_only(&state, &caller).await?;
    let (_, report) = check(&state).await?;
    Ok(axum::Json(report))
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
    storage_managers_only(&state, &caller).await?;
    let (storage, report) = check(&state).await?;
    let repaired = storage
        .repair(&report, request.prune, &|_, _| {})
        .await
        .map_err(|error| Problem::internal(&error))?;
    tracing::info!(
        users = repaired.users_repaired,
        orphans = repaired.orphans_removed,
        "storage repaired"
    );
    Ok(axum::Json(repaired))
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
    items: Vec<workers::deliveries::Delivery>,
    /// Pass as `before` for the next page; absent on the last.
    next_before: Option<i64>,
}

const DELIVERY_STATUSES: &[&str] = &["sending", "sent", "failed", "dead"];

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
    storage_managers_only(&state, &caller).await?;
    if let Some(status) = query
        .status
        .as_deref()
        .filter(|status| !DELIVERY_STATUSES.contains(status))
    {
        return Err(Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
        )
        .with_field(
            "/status",
            format!("{status:?} is not one of {DELIVERY_STATUSES:?}"),
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
        )
        .with_field("/limit", "must be 1 to 1000"));
    }
    let items = workers::deliveries::DeliveryLog::new(state.read.projector.database().clone())
        .list(&workers::deliveries::DeliveryFilter {
            status: query.status,
            template: query.template,
            recipient: query.recipient,
            event_id: query.event_id,
            before_position: query.before,
            limit,
        })
        .await
        .map_err(|error| Problem::internal(&error))?;
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|last| last.position))
        .flatten();
    Ok(axum::Json(DeliveryPage { items, next_before }))
}

/// 403 unless the policy lets the caller manage storage and deliveries (administrators).
async fn storage_managers_only(state: &AppState, caller: &Caller) -> Result<(), Problem> {
    Authority::of(state, caller).await?.require(
        Operation::ManageStorage,
        Target::Everything,
        || Problem::new(axum::http::StatusCode::NOT_FOUND, "not-found", "Not found"),
    )
}
