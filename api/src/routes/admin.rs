//! `/api/v1/admin/...`: operators' actions over HTTP (administrators only).

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::ApiJson;
use crate::problem::Problem;
use application::administration::{Delivery, DeliveryFilter, RepairReport, StorageReport};
use application::authority::Authority;
use axum::extract::State;
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
