//! idlog's HTTP API.
//!
//! [`Application::build`] binds the listener (port 0 in tests) and [`Application::run`] serves
//! until shutdown. Every error leaves as RFC 9457 problem+json ([`problem`]).

pub mod auth;
pub mod authz;
mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod routes;

use application::App;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderName;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use problem::Problem;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The header carrying the request id (set if the client did not send one, and echoed).
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach: [`AppServices`] behind one `Arc`, since axum clones the
/// state for every extractor and middleware of every request.
#[derive(Clone, Debug)]
pub struct AppState(std::sync::Arc<AppServices>);

impl AppState {
    /// The state holding `services`.
    pub fn new(services: AppServices) -> Self {
        Self(std::sync::Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppServices;

    fn deref(&self) -> &AppServices {
        &self.0
    }
}

/// The services behind [`AppState`]: the application's use cases, and what only the HTTP
/// front end keeps (its metrics).
#[derive(Debug)]
pub struct AppServices {
    /// The use cases and what they work with (shared with background work they start).
    pub app: std::sync::Arc<App>,
    /// Request counters and latencies.
    pub metrics: metrics::Metrics,
    /// Where the pages are served, and the key their forms are signed with.
    pub pages: pages::PageSettings,
    /// Proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl std::ops::Deref for AppServices {
    type Target = std::sync::Arc<App>;

    fn deref(&self) -> &std::sync::Arc<App> {
        &self.app
    }
}

/// The API's routes with their middleware.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/auth/register", post(routes::auth::register))
        .route("/auth/login", post(routes::auth::login))
        .route("/auth/refresh", post(routes::auth::refresh))
        .route("/auth/login/mfa", post(routes::mfa::login_mfa))
        .route("/auth/mfa/totp/enroll", post(routes::mfa::enroll))
        .route("/auth/mfa/totp/confirm", post(routes::mfa::confirm))
        .route(
            "/auth/mfa/totp",
            axum::routing::delete(routes::mfa::disable),
        )
        .route("/auth/logout", post(routes::auth::logout))
        .route("/auth/logout-all", post(routes::auth::logout_all))
        .route("/auth/me", get(routes::auth::me))
        .route("/auth/password/change", post(routes::auth::change_password))
        .route("/auth/password/forgot", post(routes::auth::forgot_password))
        .route("/auth/password/reset", post(routes::auth::reset_password))
        .route("/auth/sessions", get(routes::auth::list_sessions))
        .route(
            "/auth/sessions/{id}",
            axum::routing::delete(routes::auth::delete_session),
        )
        .route("/auth/introspect", post(routes::auth::introspect))
        .route(
            "/auth/invitations",
            get(routes::invitations::own_invitations),
        )
        .route(
            "/auth/invitations/{organization_id}/accept",
            post(routes::invitations::accept_invitation),
        )
        .route(
            "/auth/invitations/{organization_id}/decline",
            post(routes::invitations::decline_invitation),
        )
        .route(
            "/organizations/{id}/invitations",
            post(routes::invitations::invite_member).get(routes::invitations::list_invitations),
        )
        .route(
            "/organizations/{id}/invitations/{user_id}",
            axum::routing::delete(routes::invitations::revoke_invitation),
        )
        .route(
            "/auth/email/verify/send",
            post(routes::verification::send_email_verification),
        )
        .route(
            "/auth/email/verify",
            post(routes::verification::verify_email_post)
                .get(routes::verification::verify_email_link),
        )
        .route(
            "/auth/phone/verify/send",
            post(routes::verification::send_phone_code),
        )
        .route(
            "/auth/phone/verify",
            post(routes::verification::verify_phone),
        )
        .route(
            "/users",
            post(routes::users::create_user).get(routes::queries::users),
        )
        .route("/users/search", post(routes::queries::search_users))
        .route("/users/{id}/sessions", get(routes::queries::user_sessions))
        .route(
            "/users/{id}/sessions/{session_id}",
            axum::routing::delete(routes::users::revoke_user_session),
        )
        .route("/users/{id}/activity", get(routes::queries::user_activity))
        .route(
            "/users/{id}/notifications",
            get(routes::queries::notifications),
        )
        .route("/users/{id}/devices", get(routes::queries::devices))
        .route("/activity", get(routes::queries::activity))
        .route("/admin/storage/verify", post(routes::admin::verify_storage))
        .route("/admin/deliveries", get(routes::admin::deliveries))
        .route("/admin/processing", get(routes::admin::processing))
        .route(
            "/admin/read-models/{name}/retry",
            post(routes::admin::retry_read_model),
        )
        .route(
            "/admin/read-models/{name}/skip",
            post(routes::admin::skip_read_model),
        )
        .route(
            "/admin/workers/dead-letters/retry",
            post(routes::admin::retry_worker_letters),
        )
        .route(
            "/admin/storage/rebuild",
            post(routes::admin::rebuild_storage),
        )
        .route("/analytics/dashboard", get(routes::queries::dashboard))
        .route("/analytics/daily", get(routes::queries::daily))
        .route(
            "/analytics/organizations/{id}",
            get(routes::queries::organization_dashboard),
        )
        .route(
            "/analytics/verification-funnel",
            get(routes::queries::verification_funnel),
        )
        .route(
            "/organizations/{id}/members",
            get(routes::queries::members).post(routes::organizations::add_member_route),
        )
        // `me` is matched before `{id}`: a path segment that is not an id.
        .route(
            "/users/me",
            get(routes::users::get_me).patch(routes::users::update_me),
        )
        .route(
            "/users/{id}",
            get(routes::users::get_user)
                .patch(routes::users::update_user)
                .delete(routes::users::delete_user),
        )
        .route("/users/{id}/history", get(routes::audit::user_history))
        .route("/users/{id}/wallet", get(routes::wallets::wallet))
        .route(
            "/users/{id}/wallet/history",
            get(routes::wallets::wallet_history),
        )
        .route(
            "/users/{id}/wallet/credit",
            post(routes::wallets::credit_wallet),
        )
        .route(
            "/users/{id}/wallet/debit",
            post(routes::wallets::debit_wallet),
        )
        .route(
            "/users/{id}/wallet/freeze",
            post(routes::wallets::freeze_wallet),
        )
        .route(
            "/users/{id}/wallet/unfreeze",
            post(routes::wallets::unfreeze_wallet),
        )
        .route("/partners/{code}", get(routes::organizations::partner))
        .route(
            "/permissions",
            get(routes::organizations::permissions).post(routes::organizations::define_permission),
        )
        .route(
            "/permissions/{name}",
            axum::routing::delete(routes::organizations::retire_permission),
        )
        .route(
            "/ip-blocks",
            get(routes::ip_blocks::ip_blocks).post(routes::ip_blocks::block_ip),
        )
        .route(
            "/ip-blocks/{network}",
            axum::routing::delete(routes::ip_blocks::unblock_ip),
        )
        .route(
            "/roles",
            get(routes::roles::roles).post(routes::roles::define_role),
        )
        .route(
            "/roles/{role}",
            axum::routing::put(routes::roles::change_role).delete(routes::roles::retire_role),
        )
        .route("/roles/{role}/users", get(routes::queries::role_holders))
        .route(
            "/users/{id}/role-profiles/{role}",
            axum::routing::put(routes::roles::set_role_profile),
        )
        .route("/audit/events", get(routes::audit::events))
        .route("/audit/verify", get(routes::audit::verify))
        .route("/audit/checkpoints", get(routes::audit::checkpoints))
        .route("/users/{id}/lock", post(routes::users::lock_user))
        .route("/users/{id}/unlock", post(routes::users::unlock_user))
        .route(
            "/users/{id}/deactivate",
            post(routes::users::deactivate_user),
        )
        .route(
            "/users/{id}/reactivate",
            post(routes::users::reactivate_user),
        )
        .route(
            "/users/{id}/password-reset",
            post(routes::users::send_password_reset),
        )
        .route("/users/{id}/password", put(routes::users::set_password))
        .route("/users/{id}/restore", post(routes::users::restore_user))
        .route(
            "/users/{id}/verify-email",
            post(routes::users::verify_email_by_hand),
        )
        .route(
            "/users/{id}/verify-phone",
            post(routes::users::verify_phone_by_hand),
        )
        .route("/users/{id}/lockout", get(routes::users::lockout))
        .route("/users/{id}/forget", post(routes::privacy::forget_user))
        .route("/users/{id}/export", get(routes::privacy::export_user))
        .route(
            "/users/{id}/profile",
            get(routes::profiles::get_profile).put(routes::profiles::put_profile),
        )
        .route(
            "/organizations",
            post(routes::organizations::create_organization).get(routes::queries::organizations),
        )
        .route(
            "/organizations/{id}",
            get(routes::organizations::get_organization)
                .patch(routes::organizations::update_organization),
        )
        .route(
            "/organizations/{id}/partner-activity",
            get(routes::partners::list_activity).post(routes::partners::record_activity),
        )
        .route(
            "/analytics/partners/{id}",
            get(routes::partners::partner_figures),
        )
        .route(
            "/analytics/transactions",
            get(routes::partners::transactions),
        )
        .route(
            "/partner-actions",
            get(routes::partners::actions).post(routes::partners::define_action),
        )
        .route(
            "/partner-actions/{name}",
            axum::routing::delete(routes::partners::retire_action),
        )
        .route(
            "/organizations/{id}/api-keys",
            get(routes::api_keys::list_api_keys).post(routes::api_keys::create_api_key),
        )
        .route(
            "/organizations/{id}/api-keys/{key_id}",
            axum::routing::delete(routes::api_keys::revoke_api_key),
        )
        .route(
            "/organizations/{id}/members/{user_id}",
            axum::routing::patch(routes::organizations::change_member)
                .delete(routes::organizations::remove_member),
        );
    // Pictures are the one body over 1 MiB: their routes get their own cap.
    let picture_cap = routes::profiles::MAX_PICTURE_BYTES;
    let pictures = Router::new()
        .route(
            "/api/v1/users/{id}/profile/picture",
            post(routes::profiles::put_picture)
                .get(routes::profiles::get_picture)
                .delete(routes::profiles::delete_picture),
        )
        .layer(DefaultBodyLimit::max(picture_cap))
        .layer(RequestBodyLimitLayer::new(picture_cap))
        .layer(axum::middleware::map_response(
            problem::problem_for_bare_picture_errors,
        ));
    Router::new()
        .nest("/api/v1", v1)
        .route("/.well-known/jwks.json", get(routes::auth::jwks))
        .route("/api/openapi.json", get(openapi::document))
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics::render))
        // Refuses a declared Content-Length over the cap before reading; bodies without one are
        // cut by the extractors at the same cap.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(pictures)
        .merge(pages::router(state.clone()))
        .fallback(pages::error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
        .layer(axum::middleware::map_response(problem::problem_for_bare_errors))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id =
                    request.headers().get(&REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or_default();
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        // Tokens and personal data must not rest in caches; a handler may say otherwise.
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        ))
}

/// Liveness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Alive", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`.
    status: &'static str,
    /// The position of the last event in the log.
    log_head: u64,
    /// Each read model's position and lag.
    projections: Vec<projections::Status>,
    /// Each worker's position, lag and open dead letters (workers run by this process).
    #[schema(value_type = Vec<Object>)]
    workers: Vec<application::administration::WorkerStatus>,
}

/// Readiness: the database answers and every read model and worker is close enough to the log's
/// head (within `projections.max_ready_lag` events; read models not stopped at a dead letter).
/// Workers' dead letters are reported, not held against readiness.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is down, or a read model lags or is stopped", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, Problem> {
    let report =
        match tokio::time::timeout(Duration::from_secs(2), state.read.projector.status()).await {
            Ok(Ok(report)) => report,
            Ok(Err(error)) => {
                tracing::warn!(%error, "not ready: the database failed");
                return Err(Problem::unavailable("the database is not reachable"));
            }
            Err(_) => return Err(Problem::unavailable("the database did not answer in time")),
        };
    if let Some(stopped) = report.projections.iter().find(|p| p.stopped_at.is_some()) {
        return Err(Problem::unavailable(&format!(
            "read model {} is stopped at a dead letter",
            stopped.name
        )));
    }
    if report.max_lag() > state.read.max_ready_lag {
        return Err(Problem::unavailable(&format!(
            "the read models lag {} events behind the log",
            report.max_lag()
        )));
    }
    let workers = match &state.workers {
        Some(runner) => runner.status().await.map_err(|error| {
            tracing::warn!(%error, "not ready: worker status unavailable");
            Problem::unavailable("the database is not reachable")
        })?,
        None => Vec::new(),
    };
    if let Some(cut_off) = workers.iter().find(|worker| !worker.connected) {
        return Err(Problem::unavailable(&format!(
            "worker {} cannot reach its bus",
            cut_off.name
        )));
    }
    if let Some(behind) = workers
        .iter()
        .find(|worker| worker.lag > state.read.max_ready_lag)
    {
        return Err(Problem::unavailable(&format!(
            "worker {} lags {} events behind the log",
            behind.name, behind.lag
        )));
    }
    let log_head = match report.projections.first() {
        Some(projection) => projection.head,
        None => {
            state
                .log()
                .head()
                .await
                .map_err(|_| Problem::unavailable("the database is not reachable"))?
                .position
        }
    };
    Ok(Json(Readiness {
        status: "ready",
        log_head,
        projections: report.projections,
        workers,
    }))
}

/// The routes of `metrics.listen`: `/metrics` alone.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render_on_metrics_listener))
        .with_state(state)
        .layer(axum::middleware::map_response(
            problem::problem_for_bare_errors,
        ))
}

/// A bound, not yet serving, HTTP server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    background: tokio_util::task::TaskTracker,
}

impl Application {
    /// Binds `address` (use port 0 for any free port).
    pub async fn build(address: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        Ok(Self::on(listener, state))
    }

    /// Serves on `listener`, bound already (so that what is wired before serving, the links in
    /// emails, can name the port a port 0 gave).
    pub fn on(listener: TcpListener, state: AppState) -> Self {
        let background = state.background.clone();
        Self {
            listener,
            router: router(state),
            background,
        }
    }

    /// Binds `address` for `metrics.listen`: `/metrics` alone.
    pub async fn metrics(address: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        Ok(Self {
            listener,
            router: metrics_router(state),
            background: Default::default(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight and the work they
    /// left in the background.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        self.background.close();
        self.background.wait().await;
        Ok(())
    }
}
