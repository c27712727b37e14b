//! Prometheus metrics at `GET /metrics` (OpenMetrics text, by the `prometheus-client` crate):
//! requests by route and status with latency histograms, login outcomes, and the read models'
//! and workers' lag.
//!
//! Who may read them is decided where they are served, not by the policy (they are about the
//! installation, not anyone's data): with `metrics.credential` set, whoever sends it; with
//! `metrics.listen` set, whoever reaches that address (the API's listener then has no
//! `/metrics`); with neither, loopback clients only, so that a fresh installation does not
//! publish its traffic figures while a local agent scrapes with no configuration.

use crate::AppState;
use crate::problem::Problem;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::values::TokenHash;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectionLabels {
    projection: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The registry and the metrics the server keeps.
struct Registered {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latencies: Family<RouteLabels, Histogram, fn() -> Histogram>,
    logins: Family<OutcomeLabels, Counter>,
    head: Gauge,
    lag_events: Family<ProjectionLabels, Gauge>,
    lag_seconds: Family<ProjectionLabels, FloatGauge>,
    stopped: Family<ProjectionLabels, Gauge>,
    projection_dead_letters: Family<ProjectionLabels, Gauge>,
    worker_lag: Family<WorkerLabels, Gauge>,
    worker_dead_letters: Family<WorkerLabels, Gauge>,
    worker_connected: Family<WorkerLabels, Gauge>,
}

impl Registered {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latencies = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        let head = Gauge::default();
        let lag_events = Family::default();
        let lag_seconds = Family::default();
        let stopped = Family::default();
        let projection_dead_letters = Family::default();
        let worker_lag = Family::default();
        let worker_dead_letters = Family::default();
        let worker_connected = Family::default();
        registry.register(
            "idlog_http_requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "idlog_http_request_duration_seconds",
            "Time to answer, by route",
            latencies.clone(),
        );
        registry.register("idlog_logins", "Login attempts by outcome", logins.clone());
        registry.register(
            "idlog_log_head_position",
            "The log's last position",
            head.clone(),
        );
        registry.register(
            "idlog_projection_lag_events",
            "Events not yet applied, by projection",
            lag_events.clone(),
        );
        registry.register(
            "idlog_projection_lag_seconds",
            "Age of the oldest event not yet applied",
            lag_seconds.clone(),
        );
        registry.register(
            "idlog_projection_stopped",
            "1 when the projection waits at a dead letter",
            stopped.clone(),
        );
        registry.register(
            "idlog_projection_dead_letters",
            "Unresolved dead letters",
            projection_dead_letters.clone(),
        );
        registry.register(
            "idlog_worker_lag_events",
            "Events a worker has not looked at yet",
            worker_lag.clone(),
        );
        registry.register(
            "idlog_worker_dead_letters",
            "Events a worker gave up on, unresolved",
            worker_dead_letters.clone(),
        );
        registry.register(
            "idlog_worker_connected",
            "1 when the worker's bus answers",
            worker_connected.clone(),
        );
        Self {
            registry,
            requests,
            latencies,
            logins,
            head,
            lag_events,
            lag_seconds,
            stopped,
            projection_dead_letters,
            worker_lag,
            worker_dead_letters,
            worker_connected,
        }
    }
}

/// Request counters and latency histograms, and how `/metrics` is reached.
#[derive(Clone)]
pub struct Metrics {
    registered: Arc<Registered>,
    count_requests: bool,
    access: MetricsAccess,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("count_requests", &self.count_requests)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(MetricsAccess::default())
    }
}

/// Who may read `/metrics` on the API's listener.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// SHA-256 of the bearer credential a scraper must send; `None`: no credential.
    pub credential_hash: Option<TokenHash>,
    /// Served on a listener of their own: the API's answers 404.
    pub separate_listener: bool,
}

impl Metrics {
    /// Metrics reached as `access` says.
    pub fn new(access: MetricsAccess) -> Self {
        Self {
            registered: Arc::new(Registered::new()),
            count_requests: true,
            access,
        }
    }

    /// The same, without counting requests (the benchmark's baseline).
    pub fn without_request_counting(mut self) -> Self {
        self.count_requests = false;
        self
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let registered = &self.registered;
        registered
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        registered
            .latencies
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
        if method == "POST" && (route == "/api/v1/auth/login" || route == "/api/v1/auth/login/mfa")
        {
            registered
                .logins
                .get_or_create(&OutcomeLabels {
                    outcome: login_outcome(status),
                })
                .inc();
        }
    }
}

/// Middleware: counts and times every routed request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.metrics.count_requests {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.record(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// What a login's answer says about it.
fn login_outcome(status: u16) -> &'static str {
    match status {
        200 => "success",
        401 => "invalid_credentials",
        403 => "organization_closed",
        429 => "rate_limited",
        400..=499 => "bad_request",
        _ => "error",
    }
}

/// Whether a request from `peer` with `headers` may read the metrics on the API's listener.
fn may_read(
    access: &MetricsAccess,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<(), Problem> {
    let refused = |status, detail: &str| {
        Problem::new(status, "metrics-refused", "Metrics are not served here").with_detail(detail)
    };
    if access.separate_listener {
        return Err(refused(
            StatusCode::NOT_FOUND,
            "Metrics are served on metrics.listen.",
        ));
    }
    match &access.credential_hash {
        Some(expected) => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| commands::tokens::hash_token(token.trim()));
            // TokenHash compares in constant time.
            if presented.is_some_and(|presented| presented == *expected) {
                Ok(())
            } else {
                Err(refused(
                    StatusCode::UNAUTHORIZED,
                    "Send the metrics credential: Authorization: Bearer <metrics.credential>.",
                ))
            }
        }
        None if peer.is_some_and(|ip| ip.is_loopback()) => Ok(()),
        None => Err(refused(
            StatusCode::FORBIDDEN,
            "Without metrics.credential or metrics.listen, metrics answer loopback clients only.",
        )),
    }
}

/// `GET /metrics` on the API's listener, in the OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    security((), ("metrics" = [])),
    responses(
        (status = 200, description = "OpenMetrics text: requests by route and status, latency histograms, login outcomes, read-model and worker lag", content_type = "application/openmetrics-text"),
        (status = 401, description = "metrics.credential is set and was not sent", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither metrics.credential nor metrics.listen is set, and the client is not on loopback", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are served on metrics.listen", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn render(
    State(state): State<AppState>,
    context: crate::extract::RequestContext,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let peer = context.ip.as_deref().and_then(|ip| ip.parse().ok());
    may_read(&state.metrics.access, peer, &headers)?;
    Ok(exposition(&state).await)
}

/// `GET /metrics` on `metrics.listen`: whoever reaches it, with the credential if one is set.
pub async fn render_on_metrics_listener(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let access = MetricsAccess {
        separate_listener: false,
        ..state.metrics.access.clone()
    };
    // The listener itself is the restriction: no loopback rule there.
    if access.credential_hash.is_some() {
        may_read(&access, None, &headers)?;
    }
    Ok(exposition(&state).await)
}

/// The metrics now, as text.
async fn exposition(state: &AppState) -> Response {
    let registered = &state.metrics.registered;
    match state.read.projector.status().await {
        Ok(report) => {
            registered.head.set(
                report
                    .projections
                    .first()
                    .map_or(0, |p| gauge_value(p.head)),
            );
            for projection in &report.projections {
                let labels = ProjectionLabels {
                    projection: projection.name.to_string(),
                };
                registered
                    .lag_events
                    .get_or_create(&labels)
                    .set(gauge_value(projection.lag));
                registered
                    .lag_seconds
                    .get_or_create(&labels)
                    .set(projection.lag_seconds);
                registered
                    .stopped
                    .get_or_create(&labels)
                    .set(i64::from(projection.stopped_at.is_some()));
                registered
                    .projection_dead_letters
                    .get_or_create(&labels)
                    .set(gauge_value(projection.open_dead_letters));
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: projection status unavailable"),
    }
    if let Some(runner) = &state.workers {
        match runner.status().await {
            Ok(statuses) => {
                for worker in &statuses {
                    let labels = WorkerLabels {
                        worker: worker.name.to_string(),
                    };
                    registered
                        .worker_lag
                        .get_or_create(&labels)
                        .set(gauge_value(worker.lag));
                    registered
                        .worker_dead_letters
                        .get_or_create(&labels)
                        .set(gauge_value(worker.open_dead_letters));
                    registered
                        .worker_connected
                        .get_or_create(&labels)
                        .set(i64::from(worker.connected));
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: worker status unavailable"),
        }
    }
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registered.registry) {
        return Problem::internal(&error).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A count as a gauge's value (saturating: no count reaches 2^63).
fn gauge_value(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        headers
    }

    #[test]
    fn without_configuration_only_loopback_clients_read_metrics() {
        let open = MetricsAccess::default();
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        let remote = Some(IpAddr::from([203, 0, 113, 7]));
        assert!(may_read(&open, local, &HeaderMap::new()).is_ok());
        assert_eq!(
            may_read(&open, remote, &HeaderMap::new()).map_err(|p| p.status),
            Err(403)
        );
    }

    #[test]
    fn a_credential_is_asked_of_everyone_and_a_separate_listener_moves_them() {
        let guarded = MetricsAccess {
            credential_hash: Some(commands::tokens::hash_token("scrape me")),
            separate_listener: false,
        };
        let remote = Some(IpAddr::from([203, 0, 113, 7]));
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(may_read(&guarded, remote, &bearer("scrape me")).is_ok());
        for (peer, headers) in [(remote, bearer("guess")), (local, HeaderMap::new())] {
            assert_eq!(
                may_read(&guarded, peer, &headers).map_err(|p| p.status),
                Err(401)
            );
        }
        let moved = MetricsAccess {
            separate_listener: true,
            ..MetricsAccess::default()
        };
        assert_eq!(
            may_read(&moved, local, &HeaderMap::new()).map_err(|p| p.status),
            Err(404)
        );
    }

    #[test]
    fn requests_are_counted_by_route_and_status_and_logins_by_outcome() {
        let metrics = Metrics::default();
        metrics.record("POST", "/api/v1/auth/login", 200, 0.002);
        metrics.record("POST", "/api/v1/auth/login", 401, 0.004);
        metrics.record("GET", "/api/v1/users", 200, 0.001);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registered.registry)
            .expect("encode");
        for line in [
            "idlog_http_requests_total{method=\"GET\",route=\"/api/v1/users\",status=\"200\"} 1",
            "idlog_logins_total{outcome=\"success\"} 1",
            "idlog_logins_total{outcome=\"invalid_credentials\"} 1",
            "idlog_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"POST\",route=\"/api/v1/auth/login\"} 2",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
