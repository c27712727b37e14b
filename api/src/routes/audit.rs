//! Auditors' reads (global `auditor` or `admin` role): the log as NDJSON, chain verification,
//! signed checkpoints, a user's history and a user's state at any past point.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::ApiQuery;
use crate::problem::Problem;
use application::authority::Authority;
use audit::{ExportFilter, ExportFormat, ExportWriter};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::audit::SignedCheckpoint;
use domain::{Timestamp, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header naming the log position a past view of a user was folded up to.
pub const AS_OF_POSITION: &str = "x-as-of-position";

fn user_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
}

/// A past point of the log: at most one of the two. (Other parameters are ignored, as they
/// were before `GET /users/{id}` took these: clients add cache-busters.)
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PointInTime {
    /// The user as of this time (RFC 3339): every event recorded at or before it.
    #[param(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
    /// The user as of this log position: every event up to and including it.
    pub at_position: Option<u64>,
}

impl PointInTime {
    /// Whether a past point was asked for.
    pub fn is_set(&self) -> bool {
        self.as_of.is_some() || self.at_position.is_some()
    }
}

/// A user's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    /// The user.
    user_id: String,
    /// Their events, oldest first.
    events: Vec<audit::history::HistoryEntry>,
}

/// A user's events: what happened, who did it (actor), from where (ip, user agent), and each
/// event's hashes.
#[utoipa::path(get, path = "/api/v1/users/{id}/history", tag = "audit",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's events", body = HistoryView),
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the auditor or admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn user_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<HistoryView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let user_id: UserId = id.parse().map_err(|_| user_not_found())?;
    let events = state.user_history(&authority, user_id).await?;
    Ok(axum::Json(HistoryView {
        user_id: user_id.to_string(),
        events,
    }))
}

/// Which events to stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// From this log position or time (RFC 3339, or a date).
    from: Option<String>,
    /// Up to this log position or time.
    to: Option<String>,
    /// Only this stream.
    stream: Option<String>,
    /// Only this event type.
    #[serde(rename = "type")]
    event_type: Option<String>,
}

/// The log as stored, one event per line (NDJSON, the format `idlog events export` writes and
/// `idlog events verify --export` checks), streamed.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit",
    params(EventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The events, one JSON object per line", content_type = "application/x-ndjson", body = String),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the auditor or admin role", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let filter = ExportFilter {
        stream: query.stream,
        event_type: query.event_type,
        ..Default::default()
    };
    let selection = state.audit_events(
        &authority,
        filter,
        query.from.as_deref(),
        query.to.as_deref(),
    )?;
    Ok(ndjson_response(selection))
}

/// The events `selection` reads, one JSON object per line, streamed batch by batch.
pub(crate) fn ndjson_response(mut selection: audit::Selection) -> Response {
    let (chunks, body) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    tokio::spawn(async move {
        loop {
            let chunk = match selection.next_batch().await {
                Ok(None) => return,
                Ok(Some((events, _))) => ndjson(&events),
                Err(error) => {
                    tracing::error!(%error, "streaming the log failed");
                    Err(std::io::Error::other(error.to_string()))
                }
            };
            let failed = chunk.is_err();
            // The client hung up: stop reading.
            if chunks.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (chunk, body))
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(stream),
    )
        .into_response()
}

fn ndjson(events: &[eventstore::storage::StoredEvent]) -> Result<Vec<u8>, std::io::Error> {
    let mut bytes = Vec::with_capacity(events.len() * 512);
    let mut writer = ExportWriter::new(ExportFormat::Ndjson, &mut bytes)
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    for event in events {
        writer
            .write(event)
            .map_err(|error| std::io::Error::other(error.to_string()))?;
    }
    writer
        .finish()
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(bytes)
}

/// Which part of the chain to verify.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// First position (default 1).
    from: Option<u64>,
    /// Last position (default: the head).
    to: Option<u64>,
}

/// The chain verification result.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    /// True when every event checked matches its hash and links to the one before.
    intact: bool,
    /// First position checked.
    from: u64,
    /// Events found intact.
    verified: u64,
    /// The hash of the last intact event, hex.
    last_hash: String,
    /// The first break, if any.
    #[schema(value_type = Option<Object>)]
    broken: Option<BrokenView>,
}

/// Where and how the chain breaks.
#[derive(Debug, Serialize)]
struct BrokenView {
    position: u64,
    kind: &'static str,
    reason: String,
    expected: String,
    found: String,
}

/// Checks the hash chain over a range of the log (the whole log by default): each event's
/// content against its hash, and each link to the event before. A range not starting at 1
/// trusts its first event's link.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    params(VerifyQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The result (intact or where it breaks)", body = VerifyView),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the auditor or admin role", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<VerifyQuery>,
) -> Result<axum::Json<VerifyView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let (from, report) = state.verify_log(&authority, query.from, query.to).await?;
    Ok(axum::Json(VerifyView {
        intact: report.broken.is_none(),
        from,
        verified: report.verified,
        last_hash: hex::encode(report.last_hash),
        broken: report.broken.map(|broken| BrokenView {
            position: broken.position,
            kind: break_kind(broken.kind),
            reason: broken.kind.to_string(),
            expected: hex::encode(broken.expected),
            found: hex::encode(broken.found),
        }),
    }))
}

/// A break's kind as the API names it.
pub(crate) fn break_kind(kind: eventstore::chain::BreakKind) -> &'static str {
    match kind {
        eventstore::chain::BreakKind::ContentAltered => "content_altered",
        eventstore::chain::BreakKind::LinkBroken => "link_broken",
        eventstore::chain::BreakKind::PositionGap => "position_gap",
    }
}

/// How many checkpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsQuery {
    /// At most this many, newest first (1 to 100, default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// Signed checkpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointsView {
    /// Newest first. Each is what `idlog events verify --checkpoint` reads.
    #[schema(value_type = Vec<Object>)]
    checkpoints: Vec<SignedCheckpoint>,
}

/// The latest signed checkpoints (`idlog events checkpoint` records them): a position, the hash
/// of the event there, the time, the signing key's public half and the Ed25519 signature.
#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "audit",
    params(CheckpointsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The checkpoints", body = CheckpointsView),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the auditor or admin role", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn checkpoints(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<CheckpointsQuery>,
) -> Result<axum::Json<CheckpointsView>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let checkpoints = state
        .checkpoints(&authority, query.limit.unwrap_or(10))
        .await?;
    Ok(axum::Json(CheckpointsView { checkpoints }))
}
