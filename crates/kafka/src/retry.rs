//! Retrying with backoff: a doubling, capped wait between attempts, and an operation retried until
//! it succeeds or the service is told to stop. Nothing the consume loop needs is ever given up on
//! while the service runs: a store or broker that is down is waited for.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A doubling wait between retries, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) const fn new(first: Duration, max: Duration) -> Self {
        Self { next: first, max }
    }

    /// The consume loop's retries: from 200 ms, doubling up to 10 s.
    pub(crate) const fn consume() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(10))
    }

    /// How long the coming wait is.
    pub(crate) fn peek(&self) -> Duration {
        self.next
    }

    /// Waits, then doubles the next wait; false when `cancel` fires first.
    pub(crate) async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    /// Reports the failed attempt's `error` to `failed` with the wait before the next attempt,
    /// then waits; false when `cancel` fires first (give up).
    pub(crate) async fn after_failure<E>(
        &mut self,
        error: &E,
        cancel: &CancellationToken,
        failed: &mut impl FnMut(&E, Duration),
    ) -> bool {
        failed(error, self.peek());
        self.wait(cancel).await
    }
}

/// Runs `attempt` until it succeeds, waiting `backoff` between attempts; `failed` hears of each
/// failure with the wait before the next attempt (to log it, count it, mark a check failed).
/// `None` when `cancel` fires during a wait. (An attempt that borrows mutable state for its future
/// loops over [`Backoff::after_failure`] itself: a closure cannot lend its captures to its future.)
pub(crate) async fn until_cancelled<T, E, Fut>(
    mut backoff: Backoff,
    cancel: &CancellationToken,
    mut attempt: impl FnMut() -> Fut,
    mut failed: impl FnMut(&E, Duration),
) -> Option<T>
where
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(error) => {
                if !backoff.after_failure(&error, cancel, &mut failed).await {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(4));

    #[tokio::test]
    async fn the_wait_doubles_up_to_the_cap() {
        let mut backoff = QUICK;
        let cancel = CancellationToken::new();
        let mut waits = Vec::new();
        for _ in 0..5 {
            waits.push(backoff.peek().as_millis());
            assert!(backoff.wait(&cancel).await);
        }
        assert_eq!(waits, [1, 2, 4, 4, 4]);
    }

    #[tokio::test]
    async fn an_attempt_is_repeated_until_it_succeeds_and_each_failure_is_reported() {
        let cancel = CancellationToken::new();
        let mut attempts = 0;
        let mut reported = Vec::new();
        let value = until_cancelled(
            QUICK,
            &cancel,
            || {
                attempts += 1;
                let attempt = attempts;
                async move { if attempt < 4 { Err(attempt) } else { Ok("done") } }
            },
            |error, wait| reported.push((*error, wait.as_millis())),
        )
        .await;
        assert_eq!(value, Some("done"));
        assert_eq!(attempts, 4);
        assert_eq!(reported, [(1, 1), (2, 2), (3, 4)]);
    }

    #[tokio::test]
    async fn cancelling_ends_the_retries_without_a_value() {
        let cancel = CancellationToken::new();
        let mut attempts = 0;
        let value: Option<()> = until_cancelled(
            Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600)),
            &cancel,
            || {
                attempts += 1;
                cancel.cancel();
                async { Err("down") }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(value, None);
        assert_eq!(attempts, 1, "no attempt after the cancellation");
    }
}
