//! Retry schedule and disable rule of webhook deliveries.
//!
//! A failed attempt is retried after `base * 2^(attempts - 1)`, capped at
//! `max`, with full jitter over the upper half of that delay (so that many
//! deliveries failing together do not retry together). With the defaults
//! (5 s base, 1 h cap) the retries come after about 5 s, 10 s, 20 s, 40 s,
//! 80 s, 160 s, 320 s, 640 s, 1280 s, 2560 s, then hourly. A delivery is
//! retried until it succeeds, or until its endpoint is disabled.
//!
//! An endpoint is disabled when both hold: at least `disable_after_failures`
//! attempts in a row failed, and the first of them was at least
//! `disable_after` ago. Requiring both keeps a burst of failures on many
//! queued events from disabling an endpoint that was down for a minute.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::store::webhooks::EndpointHealth;

/// Retry and disable settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub base: Duration,
    /// Maximum delay between two attempts.
    pub max: Duration,
    /// Consecutive failed attempts needed to disable an endpoint.
    pub disable_after_failures: i32,
    /// How long an endpoint must have been failing to be disabled.
    pub disable_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
            disable_after_failures: 10,
            disable_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// Computes the delay before the next attempt after `attempts` failed
    /// attempts (at least 1), without jitter.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Computes the delay with jitter: uniform between half of
    /// [`Self::backoff`] and all of it.
    pub fn delay_with_jitter(&self, attempts: i32, rng: &mut impl Rng) -> Duration {
        let full = self.backoff(attempts);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rng.gen_range(0..=spread))
    }

    /// Returns whether an endpoint in this failure state must be disabled now.
    pub fn should_disable(&self, health: &EndpointHealth, now: DateTime<Utc>) -> bool {
        let failing_for = (now - health.failing_since).to_std().unwrap_or_default();
        health.consecutive_failures >= self.disable_after_failures
            && failing_for >= self.disable_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::mock::StepRng;

    #[test]
    fn backoff_doubles_up_to_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_secs(5));
        assert_eq!(policy.backoff(2), Duration::from_secs(10));
        assert_eq!(policy.backoff(10), Duration::from_secs(2560));
        assert_eq!(policy.backoff(11), Duration::from_secs(3600));
        assert_eq!(policy.backoff(1000), Duration::from_secs(3600));
    }

    #[test]
    fn jitter_stays_in_upper_half() {
        let policy = RetryPolicy::default();
        for attempts in 1..15 {
            let full = policy.backoff(attempts);
            let mut low = StepRng::new(0, 0);
            let delay = policy.delay_with_jitter(attempts, &mut low);
            assert_eq!(delay, full / 2);
            let mut rng = rand::thread_rng();
            let delay = policy.delay_with_jitter(attempts, &mut rng);
            assert!(
                delay >= full / 2 && delay <= full,
                "{delay:?} for {attempts}"
            );
        }
    }

    #[test]
    fn disable_needs_count_and_duration() {
        let policy = RetryPolicy::default();
        let now = Utc::now();
        let health = |failures, hours| EndpointHealth {
            consecutive_failures: failures,
            failing_since: now - chrono::Duration::hours(hours),
        };
        assert!(!policy.should_disable(&health(9, 48), now));
        assert!(!policy.should_disable(&health(50, 23), now));
        assert!(policy.should_disable(&health(10, 24), now));
    }
}
