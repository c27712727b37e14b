//! Auditors' reads (global `auditor` or `admin` role): the log as NDJSON, chain verification,
//! signed checkpoints, a user's history and a user's state at any past point.

use crate::AppState;
use crate::auth::current::Caller;
use crate::error::{command_problem, user_problem};
use crate::extract::ApiQuery;
use crate::problem::Problem;
use application::Resource;
use application::authority::Authority;
use application::policy::{Operation, Target};
use application::views::UserView;
use audit::{Bound, ExportFilter, ExportFormat, ExportWriter, Selection};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::audit::SignedCheckpoint;
use domain::user::{UserAggregate, UserState};
use domain::{Timestamp, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header naming the log position a past view of a user was folded up to.
pub const AS_OF_POSITION: &str = "x-as-of-position";

/// 403 unless the policy lets the caller read the log (auditors and administrators).
async fn auditors_only(state: &AppState, caller: &Caller) -> Result<(), Problem> {
    Authority::of(state, caller).await?.require(
        Operation::ReadAuditLog,
        Target::Everything,
        Resource::User,
    )?;
    Ok(())
}

fn user_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
}

/// The user at `id` if the policy lets the caller read their history (auditors,
/// administrators, the person). A forgotten or deleted user's past stays readable to auditors.
pub(crate) async fn history_subject(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<UserId, Problem> {
    let authority = Authority::of(state, caller).await?;
    let user_id: UserId = id.parse().map_err(|_| user_not_found())?;
    let loaded = state
        .commands
        .current::<UserAggregate>(&user_id.to_string())
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    let person = authority.person_in(state, user_id, &loaded.state);
    authority.require(
        Operation::ReadUserHistory,
        Target::Person(&person),
        Resource::User,
    )?;
    Ok(user_id)
}

fn invalid_query(pointer: &str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
        .with_field(pointer, detail)
}

fn bound(pointer: &str, raw: Option<&str>) -> Result<Option<Bound>, Problem> {
    raw.map(|text| Bound::parse(text).map_err(|message| invalid_query(pointer, message)))
        .transpose()
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

/// The user `id` as of a past point, folded from their stream up to then.
pub(crate) async fn past_user(
    state: &AppState,
    id: &str,
    point: &PointInTime,
) -> Result<Response, Problem> {
    if point.as_of.is_some() && point.at_position.is_some() {
        return Err(invalid_query(
            "/as_of",
            "give as_of or at_position, not both",
        ));
    }
    if point
        .at_position
        .is_some_and(|position| position > eventstore::MAX_POSITION)
    {
        return Err(invalid_query(
            "/at_position",
            format!("log positions go up to {}", eventstore::MAX_POSITION),
        ));
    }
    let not_then = || {
        Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
            .with_detail("The user did not exist at that point of the log.")
    };
    let user_id: UserId = id.parse().map_err(|_| not_then())?;
    // Positions are stored as signed 64-bit numbers: anything beyond is the whole log.
    let at_position = point
        .at_position
        .map(|position| position.min(i64::MAX as u64));
    let past = state
        .commands
        .load_as_of::<UserAggregate>(&user_id.to_string(), at_position, point.as_of)
        .await
        .map_err(|error| command_problem(error, user_problem))?;
    let (UserState::Present(user), Some((position, recorded_at))) = (past.state, past.last_event)
    else {
        return Err(not_then());
    };
    let seen_at = point.as_of.unwrap_or(recorded_at);
    let mut response = axum::Json(UserView::new(&user, seen_at)).into_response();
    response
        .headers_mut()
        .insert(AS_OF_POSITION, HeaderValue::from(position));
    Ok(response)
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
    let user_id = history_subject(&state, &caller, &id).await?;
    let events = audit::history::stream_history(state.log(), &user_id.to_string())
        .await
        .map_err(|error| Problem::internal(&error))?;
    if events.is_empty() {
        return Err(user_not_found());
    }
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
    auditors_only(&state, &caller).await?;
    let filter = ExportFilter {
        stream: query.stream,
        event_type: query.event_type,
        ..Default::default()
    }
    .between(
        bound("/from", query.from.as_deref())?,
        bound("/to", query.to.as_deref())?,
    );
    let mut selection = Selection::new(state.log(), filter);
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
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(stream),
    )
        .into_response())
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
    auditors_only(&state, &caller).await?;
    for (pointer, position) in [("/from", query.from), ("/to", query.to)] {
        if position.is_some_and(|position| position > eventstore::MAX_POSITION) {
            return Err(invalid_query(
                pointer,
                format!("log positions go up to {}", eventstore::MAX_POSITION),
            ));
        }
    }
    let from = query.from.unwrap_or(1).max(1);
    if query.to.is_some_and(|to| to < from) {
        return Err(invalid_query("/to", "to comes before from"));
    }
    let head = state
        .log()
        .head()
        .await
        .map_err(|error| Problem::internal(&error))?
        .position;
    if from > head.max(1) {
        return Err(invalid_query(
            "/from",
            format!("from is past the head of the log ({head})"),
        ));
    }
    let report = state
        .log()
        .verify_chain_range(from, query.to.map(|to| to.min(head)), |_| {})
        .await
        .map_err(|error| Problem::internal(&error))?;
    Ok(axum::Json(VerifyView {
        intact: report.broken.is_none(),
        from,
        verified: report.verified,
        last_hash: hex::encode(report.last_hash),
        broken: report.broken.map(|broken| BrokenView {
            position: broken.position,
            kind: match broken.kind {
                eventstore::chain::BreakKind::ContentAltered => "content_altered",
                eventstore::chain::BreakKind::LinkBroken => "link_broken",
                eventstore::chain::BreakKind::PositionGap => "position_gap",
            },
            reason: broken.kind.to_string(),
            expected: hex::encode(broken.expected),
            found: hex::encode(broken.found),
        }),
    }))
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
    auditors_only(&state, &caller).await?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(invalid_query("/limit", "must be 1 to 100"));
    }
    let checkpoints = audit::checkpoint::latest_checkpoints(state.log(), limit)
        .await
        .map_err(|error| Problem::internal(&error))?;
    Ok(axum::Json(CheckpointsView { checkpoints }))
}
