//! Waiting on a condition, the way tests wait (never a fixed sleep).

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Ok`, or panics after `timeout` naming `what` and the last
/// value seen. The way tests wait: on a condition, never a fixed sleep.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    try_wait_until(what, timeout, check)
        .await
        .unwrap_or_else(|message| panic!("{message}"))
}

/// [`wait_until`] that returns the timeout's message instead of panicking, for a caller that adds
/// what it knows (a service's log) before it fails.
pub async fn try_wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {timeout:?} waiting for {what}; last: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_until_returns_the_value_once_the_condition_holds() {
        let mut calls = 0;
        let value = wait_until("three calls", Duration::from_secs(5), || {
            calls += 1;
            let ready = calls >= 3;
            async move {
                if ready {
                    Ok(calls)
                } else {
                    Err(format!("{calls} calls"))
                }
            }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after")]
    async fn wait_until_panics_with_the_last_value_at_the_deadline() {
        wait_until("never", Duration::from_millis(200), || async {
            Err::<(), _>("still no".to_string())
        })
        .await;
    }

    #[tokio::test]
    async fn try_wait_until_returns_the_message_at_the_deadline() {
        let message = try_wait_until("never", Duration::from_millis(200), || async {
            Err::<(), _>("still no".to_string())
        })
        .await
        .expect_err("a timeout");
        assert!(message.contains("waiting for never; last: still no"), "{message}");
    }
}
