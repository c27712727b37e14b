//! The auditors' page: the hash chain verified on request (its result and head hash), the
//! signed checkpoints, and the log as stored for download (NDJSON, as `idlog events export`
//! writes it and `idlog events verify --export` checks it).

use crate::AppState;
use crate::pages::error::PageError;
use crate::pages::fields::filled;
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use crate::routes::audit::{break_kind, ndjson_response};
use askama::Template;
use audit::ExportFilter;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::Deserialize;

/// How many checkpoints the page lists.
const CHECKPOINTS: usize = 20;

/// The page's query: a range to verify (when asked), or to export.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    verify: Option<String>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    event_type: String,
}

/// A verification's outcome.
struct Verified {
    intact: bool,
    from: u64,
    verified: u64,
    head_hash: String,
    broken: Option<String>,
}

/// A signed checkpoint.
struct CheckpointLine {
    position: u64,
    head_hash: String,
    signed: When,
    public_key: String,
}

/// The audit page.
#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    from: String,
    to: String,
    verified: Option<Verified>,
    checkpoints: Vec<CheckpointLine>,
}

/// A position typed into the verify form.
fn position(field: &'static str, text: &str) -> Result<Option<u64>, PageError> {
    filled(text)
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                application::AppError::InvalidQuery {
                    field,
                    message: "a position in the log (a whole number)".into(),
                }
                .into()
            })
        })
        .transpose()
}

/// `GET /console/audit`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let who = &signed_in.authority;
    let checkpoints = state
        .checkpoints(who, CHECKPOINTS)
        .await?
        .into_iter()
        .map(|checkpoint| CheckpointLine {
            position: checkpoint.position,
            head_hash: checkpoint.head_hash,
            signed: When::new(checkpoint.signed_at),
            public_key: checkpoint.public_key,
        })
        .collect();
    let verified = if query.verify.is_some() {
        let (from, report) = state
            .verify_log(
                who,
                position("/from", &query.from)?,
                position("/to", &query.to)?,
            )
            .await?;
        Some(Verified {
            intact: report.broken.is_none(),
            from,
            verified: report.verified,
            head_hash: hex::encode(report.last_hash),
            broken: report.broken.map(|broken| {
                format!(
                    "{} {}: {} ({})",
                    signed_in.chrome.t.at_position,
                    broken.position,
                    broken.kind,
                    break_kind(broken.kind)
                )
            }),
        })
    } else {
        None
    };
    Ok(render::ok(&AuditPage {
        c: signed_in.chrome.clone(),
        from: query.from,
        to: query.to,
        verified,
        checkpoints,
    }))
}

/// `GET /console/audit/export`: the events between `from` and `to` (positions or times),
/// optionally of one stream or type, as NDJSON.
pub async fn export(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let filter = ExportFilter {
        stream: filled(&query.stream),
        event_type: filled(&query.event_type),
        ..ExportFilter::default()
    };
    let selection = state.audit_events(
        &signed_in.authority,
        filter,
        filled(&query.from).as_deref(),
        filled(&query.to).as_deref(),
    )?;
    let mut response = ndjson_response(selection);
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"idlog-events.ndjson\""),
    );
    Ok(response)
}
