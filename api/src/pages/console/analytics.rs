//! Analytics as charts: the dashboard's figures, counts by status and role, one daily series and
//! the verification funnel, each with its numbers as a table. Everyone's for analysts,
//! auditors and administrators (or one organization's, on request); an org_admin's own
//! organizations'.

use super::Choice;
use super::charts::{BarChart, ColumnChart};
use crate::AppState;
use crate::pages::error::PageError;
use crate::pages::render::{self, Chrome};
use crate::pages::session::SignedIn;
use application::policy::Operation;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

/// The daily series the page can draw, as the read model names them: its metrics, with the
/// distinct active users in place of the raw count of activity.
fn series() -> impl Iterator<Item = &'static str> {
    projections::analytics::METRICS
        .iter()
        .copied()
        .filter(|metric| *metric != "active")
        .chain([projections::queries::ACTIVE_USERS])
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct AnalyticsQuery {
    #[serde(default)]
    organization: String,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    metric: String,
}

/// A headline number.
pub(super) struct Figure {
    pub(super) label: &'static str,
    pub(super) value: String,
}

/// The analytics page.
#[derive(Template)]
#[template(path = "console/analytics.html")]
struct AnalyticsPage {
    c: Chrome,
    /// The organizations the caller may choose from: (id, name); empty for everyone's.
    organizations: Vec<(String, String)>,
    /// Whether "everyone" is a choice.
    everyone: bool,
    organization: String,
    days: u32,
    metric: String,
    /// The daily series: (name, label).
    series: Vec<(&'static str, String)>,
    metric_label: String,
    figures: Vec<Figure>,
    daily: ColumnChart,
    /// The bar charts, under their headings.
    bars: Vec<(&'static str, BarChart)>,
}

fn rows(map: &std::collections::BTreeMap<String, i64>) -> Vec<(String, i64)> {
    map.iter()
        .map(|(label, value)| (label.replace('_', " "), *value))
        .collect()
}

/// `GET /console/analytics`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<AnalyticsQuery>,
) -> Result<Response, PageError> {
    let t = signed_in.chrome.t;
    let who = &signed_in.authority;
    let Choice {
        everyone,
        organizations,
        organization,
    } = Choice::of(&state, who, Operation::ReadAnalytics, &query.organization).await?;
    let days = query.days.unwrap_or(30);
    let metric = series()
        .find(|metric| *metric == query.metric)
        .unwrap_or("registrations");
    let organization_ref = organization.as_deref();
    let dashboard = state
        .dashboard(who, organization_ref, Some(days), None)
        .await?;
    let to = chrono::Utc::now().date_naive();
    let from = to - chrono::Days::new(u64::from(days.saturating_sub(1)));
    let points: Vec<(String, i64)> = state
        .daily(who, metric, Some(from), Some(to), organization_ref, None)
        .await?
        .into_iter()
        .map(|point| (point.day.format("%m-%d").to_string(), point.value))
        .collect();
    let funnel = state
        .verification_funnel(who, organization_ref, None)
        .await?;
    let users: i64 = dashboard.users_by_status.values().sum();
    let figures = vec![
        Figure {
            label: t.figure_users,
            value: users.to_string(),
        },
        Figure {
            label: t.figure_active_today,
            value: dashboard.daily_active_users.to_string(),
        },
        Figure {
            label: t.figure_active_month,
            value: dashboard.monthly_active_users.to_string(),
        },
        Figure {
            label: t.figure_login_success,
            value: dashboard
                .login_success_rate
                .map(|rate| format!("{:.1} %", rate * 100.0))
                .unwrap_or_else(|| t.none.to_owned()),
        },
        Figure {
            label: t.figure_registrations,
            value: dashboard
                .window
                .get("registrations")
                .copied()
                .unwrap_or(0)
                .to_string(),
        },
        Figure {
            label: t.figure_lockouts,
            value: dashboard
                .window
                .get("lockouts")
                .copied()
                .unwrap_or(0)
                .to_string(),
        },
    ];
    let per_day = format!(
        "{} ({} {days} {})",
        metric.replace('_', " "),
        t.per_day_over,
        t.days
    );
    Ok(render::ok(&AnalyticsPage {
        c: signed_in.chrome.clone(),
        daily: ColumnChart::new("chart-daily", per_day, &points, 7),
        bars: vec![
            (
                t.verification_funnel,
                BarChart::new(
                    "chart-funnel",
                    t.verification_funnel.to_owned(),
                    &[
                        (t.funnel_registered.to_owned(), funnel.registered),
                        (t.funnel_email.to_owned(), funnel.email_verified),
                        (t.funnel_phone.to_owned(), funnel.phone_verified),
                        (t.funnel_both.to_owned(), funnel.both_verified),
                    ],
                ),
            ),
            (
                t.users_by_status,
                BarChart::new(
                    "chart-statuses",
                    t.users_by_status.to_owned(),
                    &rows(&dashboard.users_by_status),
                ),
            ),
            (
                t.users_by_role,
                BarChart::new(
                    "chart-roles",
                    t.users_by_role.to_owned(),
                    &rows(&dashboard.users_by_role),
                ),
            ),
            (
                t.events_in_window,
                BarChart::new(
                    "chart-window",
                    format!("{} {days} {}", t.events_over, t.days),
                    &rows(&dashboard.window),
                ),
            ),
        ],
        organizations,
        everyone,
        organization: organization.unwrap_or_default(),
        days,
        metric: metric.to_owned(),
        series: series()
            .map(|series| (series, series.replace('_', " ")))
            .collect(),
        metric_label: metric.replace('_', " "),
        figures,
    }))
}
