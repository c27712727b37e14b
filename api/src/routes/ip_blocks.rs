//! The IP block list: addresses and ranges from which nobody may sign up, sign in, refresh a
//! session or reset a password.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{JsonCommand, RequestContext};
use crate::problem::Problem;
use crate::routes::positioned;
use application::Resource;
use application::authority::Authority;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::ip_block::{IpBlock, IpBlockList, parse_network};
use domain::values::Reason;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One block.
#[derive(Debug, Serialize, ToSchema)]
pub struct IpBlockView {
    /// The blocked address or range, in CIDR notation (`192.0.2.7/32`, `198.51.100.0/24`).
    network: String,
    /// Why (never shown to whoever is refused).
    reason: String,
    /// When it was made or last changed.
    blocked_at: DateTime<Utc>,
    /// When it stops refusing, if ever.
    expires_at: Option<DateTime<Utc>>,
    /// Whether it refuses requests now (false once expired).
    in_force: bool,
}

impl IpBlockView {
    fn of(network: &IpNet, block: &IpBlock, now: DateTime<Utc>) -> Self {
        Self {
            network: network.to_string(),
            reason: block.reason.to_string(),
            blocked_at: block.blocked_at,
            expires_at: block.expires_at,
            in_force: block.in_force(now),
        }
    }
}

/// The block list.
#[derive(Debug, Serialize, ToSchema)]
pub struct IpBlocksView {
    /// Every block, expired ones included, by network.
    blocks: Vec<IpBlockView>,
}

fn list_view(list: &IpBlockList) -> IpBlocksView {
    let now = Utc::now();
    IpBlocksView {
        blocks: list
            .blocks
            .iter()
            .map(|(network, block)| IpBlockView::of(network, block, now))
            .collect(),
    }
}

/// The blocked addresses and ranges (administrators and readers).
#[utoipa::path(get, path = "/api/v1/ip-blocks", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The block list", body = IpBlocksView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Neither an administrator nor a reader", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn ip_blocks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<IpBlocksView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(list_view(&state.ip_blocks(&authority).await?)))
}

/// `POST /ip-blocks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// An address (`192.0.2.7`, `2001:db8::1`) or a range in CIDR notation (`198.51.100.0/24`).
    #[schema(example = "198.51.100.0/24")]
    network: String,
    /// Why: up to 500 characters, for administrators.
    #[schema(schema_with = crate::openapi::required_reason, example = "credential stuffing")]
    reason: String,
    /// When the block ends (in the future); absent or null: never.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// Blocks an address or range, or changes its block's reason and expiry (administrators).
/// Blocking again as blocked changes nothing.
#[utoipa::path(post, path = "/api/v1/ip-blocks", tag = "admin",
    request_body = BlockRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Blocked", body = IpBlockView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The list is full", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn block_ip(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    command: JsonCommand<BlockRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let body = command.body;
    let network = parse_network(&body.network).ok_or_else(|| {
        Problem::validation().with_field(
            "/network",
            "an IPv4 or IPv6 address, or a range in CIDR notation like 198.51.100.0/24",
        )
    })?;
    let reason = Reason::parse(&body.reason).map_err(Problem::from)?;
    let position = state
        .block_network(&authority, &context, network, reason, body.expires_at)
        .await?;
    let list = state.ip_blocks(&authority).await?;
    let block = list
        .blocks
        .get(&network)
        .ok_or_else(|| crate::authz::not_found(Resource::IpBlock))?;
    Ok((
        StatusCode::CREATED,
        positioned(position),
        axum::Json(IpBlockView::of(&network, block, Utc::now())),
    )
        .into_response())
}

/// Lifts the block of an address or range, in force or expired (administrators). A range's `/`
/// is sent as `%2F`.
#[utoipa::path(delete, path = "/api/v1/ip-blocks/{network}", tag = "admin",
    params(("network" = String, Path, description = "The address or range, as blocked", example = "198.51.100.0%2F24")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unblocked"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not blocked", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn unblock_ip(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(network): Path<String>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let network =
        parse_network(&network).ok_or_else(|| crate::authz::not_found(Resource::IpBlock))?;
    let position = state.unblock_network(&authority, &context, network).await?;
    Ok((StatusCode::NO_CONTENT, positioned(position)).into_response())
}
