//! Queries over the read models: the users list and search, sessions, the activity log with its
//! exports, analytics and organizations.
//!
//! Readers are administrators, auditors and analysts (everything), and org_admins (their
//! organizations and their members only). Everyone else is refused with 403, except for their
//! own sessions and activity. Every query takes `min_position` (parameter or `X-Min-Position`):
//! it answers once its read models have applied that position (a command's `X-Log-Position`),
//! or 503 after the configured wait.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{ApiJson, ApiQuery, invalid_query};
use crate::problem::Problem;
use application::Resource;
use application::authority::Authority;
use application::notifications::{Device, Notification};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use domain::OrganizationId;
use futures::StreamExt;
use projections::queries::{
    ActivityFilter, DailyPoint, Dashboard, Funnel, ListedMember, ListedOrganization, ListedUser,
    OrganizationFilter, Page, UserFilter,
};
use projections::{activity, sessions};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// The header a client may send instead of the `min_position` parameter.
pub const MIN_POSITION: &str = "x-min-position";

/// The log position to wait for: the larger of the `min_position` parameter and the
/// `X-Min-Position` header.
pub(crate) fn min_position(
    headers: &HeaderMap,
    parameter: Option<u64>,
) -> Result<Option<u64>, Problem> {
    let header = headers
        .get(MIN_POSITION)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid-min-position",
                        "X-Min-Position must be a log position",
                    )
                })
        })
        .transpose()?;
    Ok(parameter.max(header))
}

async fn list_users(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    filter: UserFilter,
) -> Result<axum::Json<Page<ListedUser>>, Problem> {
    let authority = Authority::of(state, caller).await?;
    let min_position = min_position(headers, filter.min_position)?;
    Ok(axum::Json(
        state.list_users(&authority, &filter, min_position).await?,
    ))
}

/// Lists users with filters, sorting and keyset pagination (read model; see `min_position`).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "queries",
    params(UserFilterParams),
    responses(
        (status = 200, description = "A page of users and the total count", body = Page<ListedUser>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn users(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<Page<ListedUser>>, Problem> {
    let filter = user_filter(query.as_deref())?;
    list_users(&state, &caller, &headers, filter).await
}

/// The holders of a role, with the users list's filters (read model; see `min_position`):
/// `GET /roles/student/users?department=physics` is `GET /users?role=student&department=physics`.
#[utoipa::path(
    get,
    path = "/api/v1/roles/{role}/users",
    tag = "queries",
    params(("role" = String, Path, description = "The role", example = "student"), UserFilterParams),
    responses(
        (status = 200, description = "A page of the role's holders and the total count", body = Page<ListedUser>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn role_holders(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(role): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<Page<ListedUser>>, Problem> {
    let mut filter = user_filter(query.as_deref())?;
    if filter.role.is_some() {
        return Err(invalid_query("role: given by the path"));
    }
    filter.role = Some(role);
    list_users(&state, &caller, &headers, filter).await
}

/// The users list's filters from a query string. A parameter that is not one of the filters
/// names a field of the role's profile (`role=student&department=physics`); `profile.NAME`
/// always does (for a field named like a filter: `profile.status=contractor`).
fn user_filter(query: Option<&str>) -> Result<UserFilter, Problem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|error| invalid_query(&error.to_string()))?;
    // The filters' names are the keys `UserFilter` serializes (the profile is skipped while
    // empty), so the list cannot drift from the struct.
    let known =
        serde_json::to_value(UserFilter::default()).map_err(|error| Problem::internal(&error))?;
    let (filters, profile): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|(key, _)| known.get(key).is_some());
    let encoded =
        serde_urlencoded::to_string(&filters).map_err(|error| Problem::internal(&error))?;
    let mut filter: UserFilter =
        serde_urlencoded::from_str(&encoded).map_err(|error| invalid_query(&error.to_string()))?;
    for (key, value) in profile {
        let field = key.strip_prefix("profile.").unwrap_or(&key).to_owned();
        if filter.profile.insert(field.clone(), value).is_some() {
            return Err(invalid_query(&format!("{field}: given twice")));
        }
    }
    Ok(filter)
}

/// The users list's filters, as a JSON body.
#[utoipa::path(
    post,
    path = "/api/v1/users/search",
    tag = "queries",
    request_body = UserFilter,
    responses(
        (status = 200, description = "A page of users and the total count", body = Page<ListedUser>),
        crate::openapi::QueryErrors,
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn search_users(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(filter): ApiJson<UserFilter>,
) -> Result<axum::Json<Page<ListedUser>>, Problem> {
    list_users(&state, &caller, &headers, filter).await
}

/// The query parameters of `GET /users` (documentation only; [`UserFilter`] reads them).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query string for the OpenAPI document"
)]
struct UserFilterParams {
    /// Holds this global role. With it, any other parameter names a field of the role's
    /// profile and the value it must have: `role=student&department=physics`.
    role: Option<String>,
    /// Default: all but deleted and forgotten.
    #[param(inline)]
    status: Option<projections::queries::ListedStatus>,
    /// A member of this organization.
    organization: Option<String>,
    /// `not_verified`, `email_verified`, `phone_verified` or `both_verified`.
    #[param(schema_with = crate::openapi::verification_status)]
    verification: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    created_from: Option<String>,
    /// Created before.
    #[param(format = DateTime)]
    created_to: Option<String>,
    /// Last login at or after.
    #[param(format = DateTime)]
    last_login_from: Option<String>,
    /// Last login before.
    #[param(format = DateTime)]
    last_login_to: Option<String>,
    /// Part of the email, username or names.
    q: Option<String>,
    /// Exactly this email address (case-insensitive).
    #[param(schema_with = crate::openapi::email_filter)]
    email: Option<String>,
    /// Exactly this username (case-insensitive).
    #[param(schema_with = crate::openapi::username_filter)]
    username: Option<String>,
    /// Exactly this phone number, in international form.
    #[param(schema_with = crate::openapi::phone_filter)]
    phone: Option<String>,
    /// `created` (default), `last_login` or `email`.
    #[param(inline)]
    sort: Option<projections::queries::UserSort>,
    /// `desc` (default) or `asc`.
    #[param(inline)]
    order: Option<projections::queries::Order>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Wait until the read models have applied this log position.
    min_position: Option<u64>,
}

/// `min_position` alone.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Wait until the read models have applied this log position.
    min_position: Option<u64>,
}

/// A user's sessions, open and past (device, address, start, last use, end and why).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/sessions",
    tag = "queries",
    params(("id" = String, Path, description = "User id"), Freshness),
    responses(
        (status = 200, description = "Sessions, newest first", body = Vec<sessions::SessionRow>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn user_sessions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(freshness): ApiQuery<Freshness>,
) -> Result<axum::Json<Vec<sessions::SessionRow>>, Problem> {
    let min_position = min_position(&headers, freshness.min_position)?;
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state.user_sessions(&authority, &id, min_position).await?,
    ))
}

/// A page of notifications.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationParams {
    /// Where the previous page ended (its `next_cursor`).
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Wait until the read models have applied this log position.
    min_position: Option<u64>,
}

/// The user an `{id}` of these routes names: an id, or `me` for the caller.
fn named_user(caller: &Caller, id: &str) -> Result<domain::UserId, Problem> {
    if id == "me" {
        return Ok(caller.user.id);
    }
    crate::routes::users::user_id(id)
}

/// A person's notifications, newest first: sign-ins from kinds of device the account was not
/// used on before, and security changes (password, email address, two-factor authentication,
/// locks). Each was also emailed.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/notifications",
    tag = "queries",
    params(("id" = String, Path, description = "User id, or `me`"), NotificationParams),
    responses(
        (status = 200, description = "Notifications, newest first", body = Page<Notification>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn notifications(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<NotificationParams>,
) -> Result<axum::Json<Page<Notification>>, Problem> {
    let min_position = min_position(&headers, params.min_position)?;
    let user_id = named_user(&caller, &id)?;
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state
            .notifications(
                &authority,
                user_id,
                params.cursor,
                params.limit,
                min_position,
            )
            .await?,
    ))
}

/// The kinds of device a person signed in from ("Firefox on Linux"), with when each was first
/// and last seen, from where last, and how many sign-ins it made.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/devices",
    tag = "queries",
    params(("id" = String, Path, description = "User id, or `me`"), Freshness),
    responses(
        (status = 200, description = "Devices, most recently seen first", body = Vec<Device>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn devices(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(freshness): ApiQuery<Freshness>,
) -> Result<axum::Json<Vec<Device>>, Problem> {
    let min_position = min_position(&headers, freshness.min_position)?;
    let user_id = named_user(&caller, &id)?;
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state.devices(&authority, user_id, min_position).await?,
    ))
}

/// The activity log's parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActivityParams {
    /// At or after (RFC 3339).
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before.
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// Done by this actor id.
    actor: Option<String>,
    /// Concerning this user.
    user: Option<String>,
    /// This event type, e.g. `AccountLocked`.
    action: Option<String>,
    /// This resource (stream) id.
    resource: Option<String>,
    /// Concerning this organization.
    organization: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `json` (a page, default), `csv` or `ndjson` (every matching row, streamed).
    #[param(inline)]
    format: Option<ExportFormat>,
    /// Wait until the read models have applied this log position.
    min_position: Option<u64>,
}

/// How activity is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One page as JSON.
    #[default]
    Json,
    /// Every matching row as CSV, streamed.
    Csv,
    /// Every matching row as newline-delimited JSON, streamed.
    Ndjson,
}

impl ActivityParams {
    fn filter(self) -> (ActivityFilter, ExportFormat, Option<u64>) {
        (
            ActivityFilter {
                from: self.from,
                to: self.to,
                actor: self.actor,
                user: self.user,
                action: self.action,
                resource: self.resource,
                organization: self.organization,
                cursor: self.cursor,
                limit: self.limit,
                min_position: None,
                scope: None,
                without_routine: false,
                actions: None,
            },
            self.format.unwrap_or_default(),
            self.min_position,
        )
    }
}

/// The activity log: one row per event (who did what to which resource, from where), newest
/// first; `format=csv` or `ndjson` streams every matching row.
#[utoipa::path(
    get,
    path = "/api/v1/activity",
    tag = "queries",
    params(ActivityParams),
    responses(
        (status = 200, description = "A page of activity (JSON), or the whole export (CSV, NDJSON)", content(
            (Page<activity::ActivityRow> = "application/json"),
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ActivityParams>,
) -> Result<Response, Problem> {
    let (filter, format, min_position_parameter) = params.filter();
    let min_position = min_position(&headers, min_position_parameter)?;
    let authority = Authority::of(&state, &caller).await?;
    let filter = state
        .activity_filter(&authority, filter, None, min_position)
        .await?;
    answer_activity(&state, filter, format).await
}

/// One user's activity (the user themself, readers, and org_admins of their organizations).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/activity",
    tag = "queries",
    params(("id" = String, Path, description = "User id"), ActivityParams),
    responses(
        (status = 200, description = "A page of activity (JSON), or the whole export (CSV, NDJSON)", content(
            (Page<activity::ActivityRow> = "application/json"),
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn user_activity(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ActivityParams>,
) -> Result<Response, Problem> {
    let (filter, format, min_position_parameter) = params.filter();
    let min_position = min_position(&headers, min_position_parameter)?;
    let authority = Authority::of(&state, &caller).await?;
    let filter = state
        .activity_filter(&authority, filter, Some(id), min_position)
        .await?;
    answer_activity(&state, filter, format).await
}

/// A page of `filter`'s activity as JSON, or every matching row streamed as CSV or NDJSON
/// (the console's download streams the same).
pub(crate) async fn answer_activity(
    state: &AppState,
    filter: ActivityFilter,
    format: ExportFormat,
) -> Result<Response, Problem> {
    let (content_type, render): (&str, fn(&activity::ActivityRow) -> String) = match format {
        ExportFormat::Json => {
            let page = state.activity_page(&filter).await?;
            return Ok(axum::Json(page).into_response());
        }
        ExportFormat::Csv => ("text/csv; charset=utf-8", csv_line),
        ExportFormat::Ndjson => ("application/x-ndjson", |row| {
            let mut line = serde_json::to_string(row).unwrap_or_default();
            line.push('\n');
            line
        }),
    };
    // The filter (a bad cursor) is checked before the answer starts.
    let pages = state.activity_export(filter).await?;
    let header_line = (format == ExportFormat::Csv).then(|| {
        "position,event_id,at,actor_id,actor_kind,action,resource_type,resource_id,subject_user_id,organization_id,ip,user_agent,details\n".to_owned()
    });
    let rows = pages.map(move |page| match page {
        Ok(rows) => Ok::<_, std::io::Error>(rows.iter().map(render).collect::<String>()),
        Err(error) => {
            tracing::error!(%error, "activity export failed midway");
            Err(std::io::Error::other(
                "the export failed; see the server log",
            ))
        }
    });
    let body = futures::stream::iter(header_line.map(Ok)).chain(rows);
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response())
}

/// A CSV field, quoted when it needs to be (RFC 4180), and defused against spreadsheet
/// formulas.
fn csv_field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn csv_line(row: &activity::ActivityRow) -> String {
    let optional = |value: &Option<String>| csv_field(value.as_deref().unwrap_or_default());
    let fields = [
        row.position.to_string(),
        row.event_id.clone(),
        domain::time::text(&row.at),
        optional(&row.actor_id),
        csv_field(&row.actor_kind),
        csv_field(&row.action),
        csv_field(&row.resource_type),
        csv_field(&row.resource_id),
        optional(&row.subject_user_id),
        optional(&row.organization_id),
        optional(&row.ip),
        optional(&row.user_agent),
        csv_field(&row.details.0.to_string()),
    ];
    let mut line = fields.join(",");
    line.push('\n');
    line
}

/// The analytics window.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowParams {
    /// Days up to today (default 30, at most 3660).
    #[param(minimum = 1, maximum = 3660)]
    pub(crate) days: Option<u32>,
    /// Wait until the read models have applied this log position.
    pub(crate) min_position: Option<u64>,
}

/// Totals (users by status and role, organizations by status) and the window's registrations,
/// logins, failed logins, success rate, lockouts, verifications, resets, daily and monthly
/// active users.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/dashboard",
    tag = "queries",
    params(WindowParams),
    responses(
        (status = 200, description = "The dashboard", body = Dashboard),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin, auditor or analyst role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn dashboard(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<axum::Json<Dashboard>, Problem> {
    let min_position = min_position(&headers, params.min_position)?;
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state
            .dashboard(&authority, None, params.days, min_position)
            .await?,
    ))
}

/// One organization's dashboard (its members' figures): readers, and its org_admins.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/organizations/{id}",
    tag = "queries",
    params(("id" = String, Path, description = "Organization id"), WindowParams),
    responses(
        (status = 200, description = "The organization's dashboard", body = Dashboard),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not an organization the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn organization_dashboard(
    State(state): State<AppState>,
    // Open to API keys: a key given can_view_reports reads its organization's figures.
    authority: Authority,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<axum::Json<Dashboard>, Problem> {
    let min_position = min_position(&headers, params.min_position)?;
    Ok(axum::Json(
        state
            .dashboard(&authority, Some(&id), params.days, min_position)
            .await?,
    ))
}

/// A daily series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DailyParams {
    /// `registrations`, `logins`, `failed_logins`, `lockouts`, `email_verifications`,
    /// `phone_verifications`, `password_resets` or `active_users`.
    #[param(schema_with = crate::openapi::daily_metric)]
    metric: String,
    /// First day (default: 29 days before `to`).
    from: Option<NaiveDate>,
    /// Last day (default: today).
    to: Option<NaiveDate>,
    /// Only this organization's members.
    organization: Option<String>,
    /// Wait until the read models have applied this log position.
    min_position: Option<u64>,
}

/// One metric per day, zeros included.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/daily",
    tag = "queries",
    params(DailyParams),
    responses(
        (status = 200, description = "The series", body = Vec<DailyPoint>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn daily(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<DailyParams>,
) -> Result<axum::Json<Vec<DailyPoint>>, Problem> {
    let min_position = min_position(&headers, params.min_position)?;
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state
            .daily(
                &authority,
                &params.metric,
                params.from,
                params.to,
                params.organization.as_deref(),
                min_position,
            )
            .await?,
    ))
}

/// Registered, email verified, phone verified, both (users not deleted).
#[utoipa::path(
    get,
    path = "/api/v1/analytics/verification-funnel",
    tag = "queries",
    params(Freshness),
    responses(
        (status = 200, description = "The funnel", body = Funnel),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Needs the admin, auditor or analyst role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn verification_funnel(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(freshness): ApiQuery<Freshness>,
) -> Result<axum::Json<Funnel>, Problem> {
    let min_position = min_position(&headers, freshness.min_position)?;
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state
            .verification_funnel(&authority, None, min_position)
            .await?,
    ))
}

/// Organizations' filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrganizationParams {
    /// `active`, `inactive`, `testing` or `suspended`.
    status: Option<String>,
    /// Part of the name, display name, partner code, sender or receiver id, or the contact's
    /// name, email or phone.
    q: Option<String>,
    /// Exactly this partner code.
    partner_code: Option<String>,
    /// Partners communicating so: `sftp`, `api`, `both` or `manual`.
    #[param(schema_with = crate::openapi::communication_method)]
    communication: Option<String>,
    /// Partners exchanging this format: `X12`, `EDIFACT`, `XML`, `JSON` or `CSV`.
    #[param(schema_with = crate::openapi::edi_format)]
    edi_format: Option<String>,
    /// Wait until the read models have applied this log position.
    min_position: Option<u64>,
}

/// Organizations (an org_admin sees the ones they administer), by name.
#[utoipa::path(
    get,
    path = "/api/v1/organizations",
    tag = "queries",
    params(OrganizationParams),
    responses(
        (status = 200, description = "Organizations", body = Vec<ListedOrganization>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn organizations(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<OrganizationParams>,
) -> Result<axum::Json<Vec<ListedOrganization>>, Problem> {
    let min_position = min_position(&headers, params.min_position)?;
    let authority = Authority::of(&state, &caller).await?;
    Ok(axum::Json(
        state
            .list_organizations(
                &authority,
                &OrganizationFilter {
                    status: params.status,
                    q: params.q,
                    partner_code: params.partner_code,
                    communication: params.communication,
                    edi_format: params.edi_format,
                },
                min_position,
            )
            .await?,
    ))
}

/// An organization's members with their roles and permission flags.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{id}/members",
    tag = "queries",
    params(("id" = String, Path, description = "Organization id"), Freshness),
    responses(
        (status = 200, description = "Members", body = Vec<ListedMember>),
        crate::openapi::QueryErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not a reader of the read models", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not an organization the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(freshness): ApiQuery<Freshness>,
) -> Result<axum::Json<Vec<ListedMember>>, Problem> {
    let min_position = min_position(&headers, freshness.min_position)?;
    let authority = Authority::of(&state, &caller).await?;
    let id: OrganizationId = id
        .parse()
        .map_err(|_| crate::authz::not_found(Resource::Organization))?;
    Ok(axum::Json(
        state.members(&authority, id, min_position).await?,
    ))
}
