//! Rate limits per client address and per account; a refusal tells how long to wait.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests allowed per minute for each limited action; `None` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Login attempts per client address.
    pub login_per_ip: Option<u32>,
    /// Login attempts per account (email or username as typed).
    pub login_per_account: Option<u32>,
    /// Registrations per client address.
    pub register_per_ip: Option<u32>,
    /// Token refreshes per client address.
    pub refresh_per_ip: Option<u32>,
    /// Password-forgot requests per client address.
    pub forgot_per_ip: Option<u32>,
    /// Password-forgot requests per email address.
    pub forgot_per_account: Option<u32>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            login_per_ip: Some(60),
            login_per_account: Some(10),
            register_per_ip: Some(10),
            refresh_per_ip: Some(120),
            forgot_per_ip: Some(10),
            forgot_per_account: Some(3),
        }
    }
}

impl RateLimitSettings {
    /// No limits (benchmarks, tests of other things).
    pub fn unlimited() -> Self {
        Self {
            login_per_ip: None,
            login_per_account: None,
            register_per_ip: None,
            refresh_per_ip: None,
            forgot_per_ip: None,
            forgot_per_account: None,
        }
    }
}

/// One limit: a keyed GCRA limiter with a burst of a minute's quota.
#[derive(Debug, Clone)]
pub struct Limit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    checks: Arc<AtomicU64>,
}

impl Limit {
    fn per_minute(quota: Option<u32>) -> Self {
        let limiter = quota
            .and_then(NonZeroU32::new)
            .map(|quota| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(quota))));
        Self {
            limiter,
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts a request for `key`; too many are refused with how long to wait.
    pub fn check(&self, key: &str) -> Result<(), RateLimited> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Forget idle keys now and then, so the table does not grow without bound.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
        }
        limiter.check_key(&key.to_lowercase()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::info!(limit = "exceeded", "rate limited");
            RateLimited {
                retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// Too many requests: the caller may try again after `retry_after_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; retry in {retry_after_seconds} s")]
pub struct RateLimited {
    /// Seconds until the next request is allowed (at least 1).
    pub retry_after_seconds: u64,
}

/// Every rate limit of idlog.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Login per client address.
    pub login_per_ip: Limit,
    /// Login per account.
    pub login_per_account: Limit,
    /// Register per client address.
    pub register_per_ip: Limit,
    /// Refresh per client address.
    pub refresh_per_ip: Limit,
    /// Forgot per client address.
    pub forgot_per_ip: Limit,
    /// Forgot per email.
    pub forgot_per_account: Limit,
}

impl RateLimits {
    /// Limits as configured.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            login_per_ip: Limit::per_minute(settings.login_per_ip),
            login_per_account: Limit::per_minute(settings.login_per_account),
            register_per_ip: Limit::per_minute(settings.register_per_ip),
            refresh_per_ip: Limit::per_minute(settings.refresh_per_ip),
            forgot_per_ip: Limit::per_minute(settings.forgot_per_ip),
            forgot_per_account: Limit::per_minute(settings.forgot_per_account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_quota_waits_and_others_do_not() {
        let limit = Limit::per_minute(Some(2));
        assert!(limit.check("1.2.3.4").is_ok());
        assert!(limit.check("1.2.3.4").is_ok());
        let refused = limit.check("1.2.3.4").expect_err("third in a minute");
        let retry_after = refused.retry_after_seconds;
        assert!((1..=30).contains(&retry_after), "{retry_after}");
        assert!(limit.check("5.6.7.8").is_ok());
        assert!(Limit::per_minute(None).check("1.2.3.4").is_ok());
    }
}
