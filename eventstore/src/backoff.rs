//! Waits between retries: exponential backoff with jitter, for everything that retries work
//! against the log or its database (projections, workers).

use rand::Rng;
use std::time::Duration;

/// The wait before attempt `failures + 1`: `base` doubled per failure up to `cap`, with jitter
/// (between half and all of it), so that retries of many failures spread out.
pub fn delay(base: Duration, cap: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let ceiling = base.saturating_mul(1 << exponent).min(cap);
    let millis = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
}
