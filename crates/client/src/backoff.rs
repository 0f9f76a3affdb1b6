//! How long to wait before sending a refused batch again.

use std::time::Duration;

/// When to send a batch again after an answer that may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait; each further one doubles, up to `max_backoff`.
    pub base: Duration,
    /// The longest backoff (a longer `Retry-After` is still honoured).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th refusal in a row (1-based): `base · 2^(failures-1)` capped
    /// at `max_backoff`, never shorter than the answer's `Retry-After`, plus up to a quarter more
    /// (`random` in `[0, 1)`), so that clients refused together do not come back together.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        let backoff = self
            .base
            .saturating_mul(1 << failures.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let wait = backoff.max(retry_after.unwrap_or_default());
        wait.mul_f64(1.0 + random.clamp(0.0, 1.0) / 4.0)
    }
}

/// A number in `[0, 1)` that differs between calls and processes (no generator to seed or share).
pub(crate) fn random() -> f64 {
    (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = [1, 2, 3, 4, 5, 6, 40]
            .iter()
            .map(|&n| policy.delay(n, None, 0.0).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn retry_after_is_a_floor_even_past_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(5 * SECOND), 0.0), 5 * SECOND);
        assert_eq!(policy.delay(1, Some(120 * SECOND), 0.0), 120 * SECOND);
        assert_eq!(
            policy.delay(4, Some(SECOND), 0.0),
            8 * SECOND,
            "a short Retry-After keeps the backoff"
        );
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(3, None, 0.999_999).as_millis(), 4999);
        for _ in 0..1000 {
            let wait = policy.delay(3, None, random());
            assert!(wait >= 4 * SECOND && wait < 5 * SECOND, "{wait:?}");
        }
    }
}
