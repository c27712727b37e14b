//! What the closed-loop HTTP benchmarks share: their settings, an arm's measurements, and the
//! loop over the databases. Each benchmark includes it with `mod support;`.

use eventstore::testing::Backend;
use std::future::Future;
use std::time::{Duration, Instant};

/// The setting `name` from the environment, or `default`.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// One arm of a round: the latencies of its requests and how long it ran.
#[derive(Default)]
pub struct Arm {
    /// Each answered request's latency.
    pub latencies: Vec<Duration>,
    /// From the first request to the last answer.
    pub elapsed: Duration,
}

impl Arm {
    /// Requests answered per second.
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency at quantile `q`, in milliseconds.
    pub fn quantile(&mut self, q: f64) -> f64 {
        self.latencies.sort();
        let index = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies
            .get(index)
            .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    }
}

/// Each of `clients` makes `request` again as soon as it is answered, for `seconds`; each
/// request is timed. A client is the state its requests need (a token, a path, a counter).
pub async fn closed_loop<C>(clients: Vec<C>, seconds: u64, request: impl AsyncFn(&mut C)) -> Arm {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let request = &request;
    let runs = clients.into_iter().map(|mut client| async move {
        let mut latencies = Vec::new();
        while Instant::now() < until {
            let sent = Instant::now();
            request(&mut client).await;
            latencies.push(sent.elapsed());
        }
        latencies
    });
    let latencies = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    Arm {
        latencies,
        elapsed: started.elapsed(),
    }
}

/// The middle of `ratios`.
pub fn median(mut ratios: Vec<f64>) -> f64 {
    ratios.sort_by(f64::total_cmp);
    ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `measure` on each database `BACKENDS` names (`postgres` or `sqlite`; both by default).
pub fn on_each_backend<F: Future<Output = ()>>(measure: impl Fn(Backend) -> F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backends: Vec<Backend> = match std::env::var("BACKENDS").as_deref() {
        Ok("postgres") => vec![Backend::Postgres],
        Ok("sqlite") => vec![Backend::Sqlite],
        _ => vec![Backend::Sqlite, Backend::Postgres],
    };
    for backend in backends {
        runtime.block_on(measure(backend));
    }
}
