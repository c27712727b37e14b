//! Prometheus metrics at `GET /metrics`: requests (commands and queries) by route and status
//! with latency histograms, login outcomes, and the read models' lag.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Latencies {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Per (method, route): answers by status, and latencies.
type Routes = BTreeMap<(String, String), (BTreeMap<u16, u64>, Latencies)>;

/// Request counters and latency histograms.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    requests: Arc<Mutex<Routes>>,
}

impl Metrics {
    fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let Ok(mut requests) = self.requests.lock() else {
            return;
        };
        let (statuses, latencies) = requests
            .entry((method.to_string(), route.to_owned()))
            .or_default();
        *statuses.entry(status).or_default() += 1;
        latencies.count += 1;
        latencies.sum += seconds;
        for (bucket, bound) in latencies.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    fn snapshot(&self) -> Routes {
        self.requests
            .lock()
            .map(|requests| requests.clone())
            .unwrap_or_default()
    }
}

/// Middleware: counts and times every routed request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.record(
        &method,
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

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `GET /metrics`, in Prometheus' text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus text format: requests by route and status, latency histograms, login outcomes, read-model lag", content_type = "text/plain"))
)]
#[tracing::instrument(skip_all)]
pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let requests = state.metrics.snapshot();
    let _ = writeln!(
        out,
        "# HELP idlog_http_requests_total Requests answered, by route and status."
    );
    let _ = writeln!(out, "# TYPE idlog_http_requests_total counter");
    let mut logins: BTreeMap<&str, u64> = BTreeMap::new();
    for ((method, route), (statuses, _)) in &requests {
        for (status, count) in statuses {
            let _ = writeln!(
                out,
                "idlog_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
            if method == "POST"
                && (route == "/api/v1/auth/login" || route == "/api/v1/auth/login/mfa")
            {
                *logins.entry(login_outcome(*status)).or_default() += count;
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP idlog_http_request_duration_seconds Time to answer, by route."
    );
    let _ = writeln!(out, "# TYPE idlog_http_request_duration_seconds histogram");
    for ((method, route), (_, latencies)) in &requests {
        let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
        for (bound, count) in BUCKETS.iter().zip(latencies.buckets) {
            let _ = writeln!(
                out,
                "idlog_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "idlog_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            latencies.count
        );
        let _ = writeln!(
            out,
            "idlog_http_request_duration_seconds_sum{{{labels}}} {}",
            latencies.sum
        );
        let _ = writeln!(
            out,
            "idlog_http_request_duration_seconds_count{{{labels}}} {}",
            latencies.count
        );
    }
    let _ = writeln!(out, "# HELP idlog_logins_total Login attempts by outcome.");
    let _ = writeln!(out, "# TYPE idlog_logins_total counter");
    for (outcome, count) in logins {
        let _ = writeln!(out, "idlog_logins_total{{outcome=\"{outcome}\"}} {count}");
    }
    match state.read.projector.status().await {
        Ok(report) => {
            let head = report.projections.first().map_or(0, |p| p.head);
            let _ = writeln!(
                out,
                "# HELP idlog_log_head_position The log's last position."
            );
            let _ = writeln!(out, "# TYPE idlog_log_head_position gauge");
            let _ = writeln!(out, "idlog_log_head_position {head}");
            for (name, help) in [
                (
                    "idlog_projection_lag_events",
                    "Events not yet applied, by projection.",
                ),
                (
                    "idlog_projection_lag_seconds",
                    "Age of the oldest event not yet applied.",
                ),
                (
                    "idlog_projection_stopped",
                    "1 when the projection waits at a dead letter.",
                ),
                ("idlog_projection_dead_letters", "Unresolved dead letters."),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} gauge");
                for projection in &report.projections {
                    let value = match name {
                        "idlog_projection_lag_events" => projection.lag as f64,
                        "idlog_projection_lag_seconds" => projection.lag_seconds,
                        "idlog_projection_stopped" => {
                            f64::from(u8::from(projection.stopped_at.is_some()))
                        }
                        _ => projection.open_dead_letters as f64,
                    };
                    let _ = writeln!(out, "{name}{{projection=\"{}\"}} {value}", projection.name);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: projection status unavailable"),
    }
    if let Some(runner) = &state.workers {
        match runner.status().await {
            Ok(statuses) => {
                let _ = writeln!(
                    out,
                    "# HELP idlog_worker_lag_events Events a worker has not looked at yet."
                );
                let _ = writeln!(out, "# TYPE idlog_worker_lag_events gauge");
                for worker in &statuses {
                    let _ = writeln!(
                        out,
                        "idlog_worker_lag_events{{worker=\"{}\"}} {}",
                        worker.name, worker.lag
                    );
                }
                let _ = writeln!(
                    out,
                    "# HELP idlog_worker_dead_letters Events a worker gave up on, unresolved."
                );
                let _ = writeln!(out, "# TYPE idlog_worker_dead_letters gauge");
                for worker in &statuses {
                    let _ = writeln!(
                        out,
                        "idlog_worker_dead_letters{{worker=\"{}\"}} {}",
                        worker.name, worker.open_dead_letters
                    );
                }
                let _ = writeln!(
                    out,
                    "# HELP idlog_worker_connected 1 when the worker's bus answers."
                );
                let _ = writeln!(out, "# TYPE idlog_worker_connected gauge");
                for worker in &statuses {
                    let _ = writeln!(
                        out,
                        "idlog_worker_connected{{worker=\"{}\"}} {}",
                        worker.name,
                        u8::from(worker.connected)
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: worker status unavailable"),
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
