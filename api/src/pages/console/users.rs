//! The users list: search, status and role filters, keyset paging, within what the policy lets
//! the caller list (everyone for administrators and readers; their organizations' members for
//! an org_admin).

use crate::AppState;
use crate::pages::error::PageError;
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::SignedIn;
use crate::problem::Problem;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use projections::queries::{ListedStatus, UserFilter};
use serde::Deserialize;

/// The list's query, as the search form sends it.
#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    cursor: Option<String>,
}

/// One user as listed.
struct UserLine {
    id: String,
    name: String,
    email: String,
    username: String,
    status: String,
    roles: String,
    organizations: usize,
    verification: String,
    last_sign_in: Option<When>,
    created: When,
}

/// The users page.
#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    c: Chrome,
    q: String,
    status: String,
    role: String,
    statuses: &'static [&'static str],
    users: Vec<UserLine>,
    total: Option<u64>,
    total_exact: bool,
    next: Option<String>,
}

/// The statuses the filter offers, as the list names them.
const STATUSES: &[&str] = &["active", "inactive", "locked", "deleted", "forgotten"];

fn filled(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `GET /console/users`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<UsersQuery>,
) -> Result<Response, PageError> {
    let status = match filled(&query.status) {
        None => None,
        Some(status) => Some(
            serde_json::from_value::<ListedStatus>(serde_json::Value::String(status)).map_err(
                |_| {
                    Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query")
                        .with_detail(format!("status: one of {}", STATUSES.join(", ")))
                },
            )?,
        ),
    };
    let filter = UserFilter {
        q: filled(&query.q),
        status,
        role: filled(&query.role),
        cursor: query.cursor.clone().filter(|cursor| !cursor.is_empty()),
        limit: Some(50),
        ..UserFilter::default()
    };
    let page = state
        .list_users(&signed_in.authority, &filter, None)
        .await?;
    let users = page
        .items
        .into_iter()
        .map(|user| UserLine {
            id: user.id.clone(),
            name: [user.first_name.as_deref(), user.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            email: user.email.unwrap_or_default(),
            username: user.username.unwrap_or_default(),
            status: super::status_word(&user.status),
            roles: user.roles.join(", "),
            organizations: user.organizations.len(),
            verification: user.verification_status.replace('_', " "),
            last_sign_in: user.last_login_at.map(When::new),
            created: When::new(user.created_at),
        })
        .collect();
    let next = page.next_cursor.and_then(|cursor| {
        serde_urlencoded::to_string([
            ("q", query.q.as_str()),
            ("status", query.status.as_str()),
            ("role", query.role.as_str()),
            ("cursor", cursor.as_str()),
        ])
        .ok()
    });
    Ok(render::ok(&UsersPage {
        c: signed_in.chrome.clone(),
        q: query.q,
        status: query.status,
        role: query.role,
        statuses: STATUSES,
        users,
        total: page.total,
        total_exact: page.total_exact.unwrap_or(true),
        next,
    }))
}
