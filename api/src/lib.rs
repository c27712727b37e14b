//! idlog's HTTP API.
//!
//! [`Application::build`] binds the listener (port 0 in tests) and [`Application::run`] serves
//! until shutdown. Every error leaves as RFC 9457 problem+json ([`problem`]).

pub mod problem;

use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use commands::CommandHandler;
use eventstore::EventLog;
use problem::Problem;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The header carrying the request id (set if the client did not send one, and echoed).
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Runs commands.
    pub commands: CommandHandler,
}

impl AppState {
    /// The event log.
    pub fn log(&self) -> &EventLog {
        self.commands.log()
    }
}

/// The API's routes with their middleware.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id =
                    request.headers().get(&REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or_default();
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// Liveness: the process answers.
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    log_head: u64,
}

/// Readiness: the database answers.
#[tracing::instrument(skip_all)]
async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, Problem> {
    match tokio::time::timeout(Duration::from_secs(2), state.log().head()).await {
        Ok(Ok(head)) => Ok(Json(Readiness {
            status: "ready",
            log_head: head.position,
        })),
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: the database failed");
            Err(Problem::unavailable("the database is not reachable"))
        }
        Err(_) => Err(Problem::unavailable("the database did not answer in time")),
    }
}

async fn not_found() -> impl IntoResponse {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found")
        .with_detail("There is nothing at this address.")
}

/// A bound, not yet serving, HTTP server.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Binds `address` (use port 0 for any free port).
    pub async fn build(address: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
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
        .await
    }
}
