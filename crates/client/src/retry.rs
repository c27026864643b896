//! When to try a call again and how long to wait: the server's `Retry-After` when it gives
//! one, otherwise an exponential backoff with jitter (so clients that failed together do not
//! come back together), within a bounded number of attempts and a bounded total time.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How calls are retried. A REST call is tried again only when that is safe and may help:
/// after `503` (a dependency is down) or `429` (rate limited), and after a connection that
/// failed before the request was sent. Subscriptions reconnect with the same backoff, with
/// [`RetryPolicy::max_attempts`] consecutive failures allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one call, the first included (1: never retry).
    pub max_attempts: u32,
    /// The backoff before the first retry; doubled for each next one.
    pub initial_backoff: Duration,
    /// The longest backoff (a `Retry-After` may ask for longer; it is honoured).
    pub max_backoff: Duration,
    /// No retry starts after this much time since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 100 ms doubling up to 5 s, within 30 s.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1 for the first), or `None` when the policy says
    /// to stop: attempts used up, or the wait would end past [`RetryPolicy::max_elapsed`].
    /// `retry_after` is the server's `Retry-After`; `jitter` a number in `[0, 1)`.
    pub(crate) fn delay(
        &self,
        retry: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        let doubling = 2u32.saturating_pow(retry.saturating_sub(1));
        let backoff = self
            .initial_backoff
            .saturating_mul(doubling)
            .min(self.max_backoff);
        // Half fixed, half random: never much shorter than the backoff, never in lockstep.
        let jittered = backoff / 2 + backoff.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        let wait = retry_after.map_or(jittered, |asked| asked.max(jittered));
        (elapsed.saturating_add(wait) <= self.max_elapsed).then_some(wait)
    }
}

/// A `Retry-After` value: delta-seconds, as the service sends it (an HTTP date is not used by
/// the service and reads as absent).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A number in `[0, 1)`, different on each call (std's hasher keys are random per process and
/// change per instance; plenty for spreading retries).
pub(crate) fn jitter() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u8(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_TIME: Duration = Duration::ZERO;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_with_half_of_it_random() {
        let policy = RetryPolicy {
            max_attempts: 10,
            ..RetryPolicy::default()
        };
        let low = |retry| policy.delay(retry, NO_TIME, None, 0.0).unwrap();
        let high = |retry| policy.delay(retry, NO_TIME, None, 0.999_999).unwrap();

        assert_eq!(low(1), Duration::from_millis(50));
        assert!(high(1) > Duration::from_millis(99) && high(1) <= Duration::from_millis(100));
        assert_eq!(low(2), Duration::from_millis(100));
        assert_eq!(low(3), Duration::from_millis(200));
        assert_eq!(low(9), Duration::from_millis(2500), "5 s ceiling, halved");
    }

    #[test]
    fn retry_after_is_honoured_even_beyond_the_backoff_ceiling() {
        let policy = RetryPolicy::default();

        let wait = policy.delay(1, NO_TIME, Some(Duration::from_secs(7)), 0.5);

        assert_eq!(wait, Some(Duration::from_secs(7)));
    }

    #[test]
    fn no_retry_once_attempts_or_time_are_used_up() {
        let policy = RetryPolicy::default();

        assert!(policy.delay(3, NO_TIME, None, 0.0).is_some());
        assert_eq!(
            policy.delay(4, NO_TIME, None, 0.0),
            None,
            "4 attempts in all"
        );
        assert_eq!(
            policy.delay(
                1,
                Duration::from_secs(29),
                Some(Duration::from_secs(2)),
                0.0
            ),
            None,
            "the wait would end past 30 s"
        );
        assert_eq!(RetryPolicy::never().delay(1, NO_TIME, None, 0.0), None);
    }

    #[test]
    fn retry_after_reads_delta_seconds_only() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn jitter_stays_in_the_unit_interval_and_varies() {
        let draws: Vec<f64> = (0..100).map(|_| jitter()).collect();

        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }
}
