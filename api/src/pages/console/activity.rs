//! The activity log: filters (dates, actor, user, action, organization), keyset paging, and
//! the whole matching log as CSV or NDJSON, within what the policy lets the caller read
//! (everything for administrators and readers; their organizations for an org_admin).

use crate::AppState;
use crate::pages::error::PageError;
use crate::pages::fields::filled;
use crate::pages::render::{self, Chrome, When, describe_agent};
use crate::pages::session::SignedIn;
use crate::problem::Problem;
use crate::routes::queries::{ExportFormat, answer_activity};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDate, TimeZone, Utc};
use projections::activity::ActivityRow;
use projections::queries::ActivityFilter;
use serde::{Deserialize, Serialize};

/// The log's filters, as the form sends them (and the links repeat them).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ActivityQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    organization: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
}

/// A day typed as `YYYY-MM-DD`, at its start in UTC (`after` days later).
fn day(field: &str, text: &str, after: i64) -> Result<Option<chrono::DateTime<Utc>>, PageError> {
    let Some(text) = filled(text) else {
        return Ok(None);
    };
    let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
            .with_detail(format!("{field}: a date such as 2026-12-06"))
    })?;
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|midnight| Utc.from_utc_datetime(&midnight) + chrono::Duration::days(after));
    Ok(start)
}

impl ActivityQuery {
    /// The read-model filter these fields ask for (`to` includes its whole day).
    fn filter(&self, limit: Option<u32>) -> Result<ActivityFilter, PageError> {
        Ok(ActivityFilter {
            from: day("from", &self.from, 0)?,
            to: day("to", &self.to, 1)?,
            actor: filled(&self.actor),
            user: filled(&self.user),
            action: filled(&self.action),
            organization: filled(&self.organization),
            cursor: self.cursor.clone().filter(|cursor| !cursor.is_empty()),
            limit,
            ..ActivityFilter::default()
        })
    }

    /// This query as a link's query string, with `cursor` or `format` replaced.
    fn link(&self, cursor: Option<String>, format: Option<&str>) -> String {
        let query = Self {
            cursor,
            format: format.map(str::to_owned),
            ..self.clone()
        };
        serde_urlencoded::to_string(&query).unwrap_or_default()
    }
}

/// One row of the log as listed (here and on a user's page).
pub(super) struct Line {
    pub(super) at: When,
    pub(super) action: String,
    pub(super) actor: String,
    pub(super) subject: String,
    pub(super) resource: String,
    pub(super) ip: String,
    pub(super) device: String,
}

impl Line {
    /// `row` as listed.
    pub(super) fn of(row: ActivityRow) -> Self {
        Self {
            at: When::new(row.at),
            action: row.action,
            actor: format!("{} {}", row.actor_kind, row.actor_id.unwrap_or_default())
                .trim()
                .to_owned(),
            subject: row.subject_user_id.unwrap_or_default(),
            resource: format!("{} {}", row.resource_type, row.resource_id),
            ip: row.ip.unwrap_or_default(),
            device: row
                .user_agent
                .as_deref()
                .map(describe_agent)
                .unwrap_or_default(),
        }
    }
}

/// The activity page.
#[derive(Template)]
#[template(path = "console/activity.html")]
struct ActivityPage {
    c: Chrome,
    query: ActivityQuery,
    lines: Vec<Line>,
    next: Option<String>,
    csv: String,
    ndjson: String,
}

/// `GET /console/activity`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<ActivityQuery>,
) -> Result<Response, PageError> {
    let filter = state
        .activity_filter(&signed_in.authority, query.filter(Some(50))?, None, None)
        .await?;
    let page = state.activity_page(&filter).await?;
    let lines = page.items.into_iter().map(Line::of).collect();
    Ok(render::ok(&ActivityPage {
        next: page
            .next_cursor
            .map(|cursor| query.link(Some(cursor), None)),
        csv: query.link(None, Some("csv")),
        ndjson: query.link(None, Some("ndjson")),
        c: signed_in.chrome.clone(),
        query,
        lines,
    }))
}

/// `GET /console/activity/export?format=csv|ndjson`: every matching row, streamed, as REST's
/// export streams it.
pub async fn export(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<ActivityQuery>,
) -> Result<Response, PageError> {
    let format = match query.format.as_deref() {
        Some("ndjson") => ExportFormat::Ndjson,
        _ => ExportFormat::Csv,
    };
    let filter = state
        .activity_filter(&signed_in.authority, query.filter(None)?, None, None)
        .await?;
    let mut response = answer_activity(&state, filter, format).await?;
    let name = if format == ExportFormat::Csv {
        "attachment; filename=\"idlog-activity.csv\""
    } else {
        "attachment; filename=\"idlog-activity.ndjson\""
    };
    response.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static(name),
    );
    Ok(response)
}
