//! One batch sent until it is answered for good: accepted, refused, or out of time.

use std::time::Instant;

use reqwest::header::HeaderMap;

use crate::backoff::random;
use crate::{Attempt, Outcome, Rejection, RetryPolicy, Transport};

/// How a batch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// In Kafka, but for the `rejected` events.
    Accepted { rejected: Vec<Rejection>, attempts: u32 },
    /// Refused for good; `problems` name the fields.
    Refused { problems: Vec<String>, attempts: u32 },
    /// Still refused (for a reason that may pass) when the next attempt would start after the
    /// deadline: whether an earlier attempt arrived is not known.
    GaveUp { attempts: u32 },
}

/// Sends `events` (each one event's JSON, with its `event_id`) with `headers`, and again, the same
/// events, while the answer may pass, waiting as `policy` says; `observe` sees every attempt. No
/// attempt starts after `deadline`.
pub async fn deliver(
    transport: &Transport,
    events: &[Vec<u8>],
    headers: &HeaderMap,
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    mut observe: impl FnMut(&Attempt),
) -> Delivery {
    let mut attempts = 0;
    loop {
        let attempt = transport.send_with_headers(events, headers.clone()).await;
        attempts += 1;
        observe(&attempt);
        match attempt.outcome {
            Outcome::Accepted { rejected } => return Delivery::Accepted { rejected, attempts },
            Outcome::Refused { problems, .. } => return Delivery::Refused { problems, attempts },
            Outcome::Retry { retry_after } => {
                let wait = policy.delay(attempts, retry_after, random());
                if deadline.is_some_and(|deadline| Instant::now() + wait > deadline) {
                    return Delivery::GaveUp { attempts };
                }
                tracing::debug!(status = %attempt.status.label(), wait_ms = wait.as_millis() as u64, "the api did not take the batch; sending it again");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
