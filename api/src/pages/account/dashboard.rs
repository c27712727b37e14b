//! The dashboard: the account's state, what to do next, and recent activity on it.

use crate::AppState;
use crate::pages::error::PageError;
use crate::pages::render::{self, Chrome, When, describe_agent};
use crate::pages::session::SignedIn;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

/// One row of recent activity.
struct ActivityLine {
    at: When,
    what: String,
    ip: Option<String>,
    device: Option<String>,
}

/// A notification as the dashboard lists it.
struct NotificationLine {
    at: When,
    what: &'static str,
    device: Option<String>,
    ip: Option<String>,
    country: Option<String>,
}

/// A next step the dashboard suggests.
struct Step {
    text: &'static str,
    href: &'static str,
    label: &'static str,
}

/// The dashboard.
#[derive(Template)]
#[template(path = "account/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    email: String,
    email_verified: bool,
    phone: Option<String>,
    phone_verified: bool,
    two_factor: bool,
    member_since: When,
    last_sign_in: Option<When>,
    steps: Vec<Step>,
    activity: Vec<ActivityLine>,
    older: Option<String>,
    notifications: Vec<NotificationLine>,
    wallet: Option<application::views::WalletSummary>,
}

/// `?cursor=` of the activity list, and the notice.
#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    done: Option<String>,
    /// Show the activity once the read models have applied this log position.
    #[serde(default)]
    min_position: Option<u64>,
}

/// `GET /`: on to the dashboard (which sends a visitor without a session to sign in).
pub async fn home() -> Response {
    render::see_other("/account")
}

/// `GET /account`.
pub async fn dashboard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    let t = signed_in.chrome.t;
    let user = &signed_in.caller.user;
    let overview = state
        .account_overview(
            &signed_in.authority,
            user.id,
            query.cursor.filter(|cursor| !cursor.is_empty()),
            query.min_position,
        )
        .await?;
    let page = overview.activity;
    let notifications = overview
        .notifications
        .into_iter()
        .map(|notification| NotificationLine {
            at: When::new(notification.at),
            what: t.notification(notification.kind),
            device: notification.device,
            ip: notification.ip,
            country: notification.country,
        })
        .collect();
    let activity = page
        .items
        .into_iter()
        .map(|row| ActivityLine {
            at: When::new(row.at),
            what: t.action(&row.action).to_owned(),
            ip: row.ip,
            device: row.user_agent.as_deref().map(describe_agent),
        })
        .collect();
    let mut steps = Vec::new();
    if user.email_verified_at.is_none() {
        steps.push(Step {
            text: t.step_verify_email,
            href: "",
            label: t.send_new_link,
        });
    }
    match (&user.phone, user.phone_verified_at) {
        (None, _) => steps.push(Step {
            text: t.step_add_phone,
            href: "/account/profile",
            label: t.nav_profile,
        }),
        (Some(_), None) => steps.push(Step {
            text: t.step_verify_phone,
            href: "/account/phone",
            label: t.verify_phone,
        }),
        _ => {}
    }
    if !user.has_mfa() {
        steps.push(Step {
            text: t.step_two_factor,
            href: "/account/security#two-factor",
            label: t.turn_on_two_factor,
        });
    }
    let wallet = state.wallet_summary(&signed_in.authority, user).await?;
    let notice = t.notice(query.done.as_deref());
    Ok(render::ok(&DashboardPage {
        wallet,
        email: user.email.to_string(),
        email_verified: user.email_verified_at.is_some(),
        phone: user.phone.as_ref().map(ToString::to_string),
        phone_verified: user.phone_verified_at.is_some(),
        two_factor: user.has_mfa(),
        member_since: When::new(user.created_at),
        last_sign_in: user.last_login_at.map(When::new),
        steps,
        activity,
        older: page.next_cursor,
        notifications,
        c: signed_in.chrome_with(notice),
    }))
}
