//! The load generator behind `loadgen` and the reliability scenario: closed loop (N clients, each
//! sending its next request when the last is answered) or open loop (requests started at a fixed
//! rate, answered or not, up to a cap in flight), single events or batches.
//!
//! Requests go through `lakehouse_client`'s transport, as `{"batch": [...], "sent_at": ...}`. With
//! [`Load::retry`] it delivers them as the SDKs do (`lakehouse_client::deliver`): a request refused
//! for a reason that may pass (503, 429, 408, another 5xx, a timeout, a broken connection) is sent
//! again, the same events with the same `event_id`s, after the answer's `Retry-After` or an
//! exponential backoff, until it is accepted or the retry deadline passes. With [`Load::track`]
//! the report lists every accepted `event_id` with the moment its 2xx arrived: what the stores
//! must then hold, exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lakehouse_client::{Attempt, Delivery, Outcome, RetryPolicy, Transport, deliver};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use uuid::Uuid;

/// What to send, how fast and for how long.
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub api_key: String,
    /// Closed loop: this many clients. Open loop: at most this many × 8 requests in flight.
    pub concurrency: usize,
    /// Open loop: start this many requests per second.
    pub rate: Option<u32>,
    /// Events per request.
    pub batch: usize,
    pub duration: Duration,
    /// Requests started before this are not measured (nor tracked).
    pub warmup: Duration,
    pub retry: Option<Retry>,
    pub track: bool,
    /// Client addresses sent as `X-Forwarded-For`, one per request in turn (for an api that trusts
    /// its proxy); empty sends none.
    pub forwarded_for: Vec<String>,
    /// Per-request timeout of the HTTP client.
    pub timeout: Duration,
}

impl Load {
    pub fn new(url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            api_key: api_key.into(),
            concurrency: 32,
            rate: None,
            batch: 1,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(2),
            retry: None,
            track: false,
            forwarded_for: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Resending refused requests.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// How long past the end of the load a request may still be resent.
    pub give_up_after: Duration,
    /// The longest backoff between two sends (a longer `Retry-After` is honoured).
    pub max_backoff: Duration,
}

/// The first backoff of a refused request; it doubles up to [`Retry::max_backoff`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// An accepted event and when its 2xx arrived.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub event_id: Uuid,
    pub acked_at: DateTime<Utc>,
}

/// What the generator saw. Latencies and statuses count every send, retries included.
#[derive(Debug, Default)]
pub struct Report {
    pub mode: &'static str,
    pub seconds: f64,
    pub latencies_us: Vec<u64>,
    pub statuses: BTreeMap<String, u64>,
    pub events_accepted: u64,
    pub dropped: u64,
    pub retries: u64,
    /// Events whose request was still refused at the retry deadline (or refused for good).
    pub abandoned: Vec<Uuid>,
    /// With [`Load::track`]: every accepted event.
    pub accepted: Vec<Accepted>,
}

impl Report {
    /// The latency at quantile `p` in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p)
    }

    /// The one-line JSON summary `loadgen` prints.
    pub fn summary(&self, load: &Load) -> Value {
        let requests = self.latencies_us.len() as u64;
        json!({
            "mode": self.mode,
            "concurrency": load.concurrency,
            "rate": load.rate,
            "batch": load.batch,
            "seconds": self.seconds,
            "requests": requests,
            "requests_per_sec": (requests as f64 / self.seconds).round(),
            "events_accepted_per_sec": (self.events_accepted as f64 / self.seconds).round(),
            "p50_ms": self.percentile_ms(0.50),
            "p90_ms": self.percentile_ms(0.90),
            "p99_ms": self.percentile_ms(0.99),
            "statuses": self.statuses,
            "dropped": self.dropped,
            "retries": self.retries,
            "abandoned": self.abandoned.len(),
        })
    }
}

/// `sorted` (microseconds) at quantile `p`, in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// The `n`-th request's body and the ids of its events. The mix covers every derived table of the
/// warehouse: page views and clicks on 300 paths, conversions with a value, funnel steps.
pub fn body(batch: usize, n: u64) -> (Value, Vec<Uuid>) {
    let event = |i: u64| {
        let id = Uuid::new_v4();
        let mut event = json!({
            "event_id": id,
            "event_type": if i.is_multiple_of(5) { "click" } else { "page_view" },
            "session_id": format!("load-{}", i % 5000),
            "url": format!("https://shop.example/p/{}", i % 300),
            "referrer": "https://search.example/?q=shoes",
            "title": "A product page",
            "properties": {"plan": "pro", "ab": i % 2},
        });
        if i % 20 == 3 {
            event["event_type"] = "conversion".into();
            event["value"] = json!((i % 97) as f64 + 0.5);
        } else if i % 7 == 1 {
            event["event_type"] = "funnel_step".into();
            event["properties"] = json!({"funnel": "checkout", "step": i % 3 + 1});
        }
        (event, id)
    };
    if batch <= 1 {
        let (event, id) = event(n);
        (event, vec![id])
    } else {
        let (events, ids) = (0..batch as u64)
            .map(|i| event(n * batch as u64 + i))
            .unzip::<_, _, Vec<_>, Vec<_>>();
        (json!({ "batch": events }), ids)
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
    events_accepted: u64,
    dropped: u64,
    retries: u64,
    abandoned: Vec<Uuid>,
    accepted: Vec<Accepted>,
}

/// Each event of a [`body`] as its own JSON, for the transport's batch.
fn events_of(body: &Value) -> Vec<Vec<u8>> {
    let encode = |event: &Value| serde_json::to_vec(event).expect("an event encodes");
    match body.get("batch").and_then(Value::as_array) {
        Some(events) => events.iter().map(encode).collect(),
        None => vec![encode(body)],
    }
}

struct Generator {
    load: Load,
    transport: Transport,
    tally: Mutex<Tally>,
    measured_from: Instant,
    end: Instant,
    counter: AtomicU64,
}

impl Generator {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        // A tally is only updated by short sections that cannot panic half-way.
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the next request, and again while it is refused for a reason that may pass.
    async fn request(&self) {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let (body, ids) = body(self.load.batch, n);
        let events = events_of(&body);
        let measured = Instant::now() >= self.measured_from;
        let mut headers = HeaderMap::new();
        if !self.load.forwarded_for.is_empty() {
            let address = &self.load.forwarded_for[n as usize % self.load.forwarded_for.len()];
            if let Ok(value) = HeaderValue::from_str(address) {
                headers.insert("x-forwarded-for", value);
            }
        }
        let observe = |attempt: &Attempt| {
            if measured {
                let mut tally = self.tally();
                tally.latencies_us.push(attempt.latency.as_micros() as u64);
                *tally.statuses.entry(attempt.status.label()).or_default() += 1;
            }
        };
        let delivery = match self.load.retry {
            Some(retry) => {
                let policy = RetryPolicy {
                    base: FIRST_BACKOFF,
                    max_backoff: retry.max_backoff,
                };
                let deadline = self.end + retry.give_up_after;
                deliver(
                    &self.transport,
                    &events,
                    &headers,
                    &policy,
                    Some(deadline),
                    observe,
                )
                .await
            }
            None => {
                let attempt = self.transport.send_with_headers(&events, headers).await;
                observe(&attempt);
                match attempt.outcome {
                    Outcome::Accepted { rejected } => Delivery::Accepted {
                        rejected,
                        attempts: 1,
                    },
                    _ => Delivery::GaveUp { attempts: 1 },
                }
            }
        };
        if !measured {
            return;
        }
        let mut tally = self.tally();
        match delivery {
            Delivery::Accepted { rejected, attempts } => {
                tally.retries += u64::from(attempts - 1);
                let rejected: Vec<usize> = rejected.iter().map(|rejection| rejection.index).collect();
                let accepted: Vec<Uuid> = ids
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| !rejected.contains(index))
                    .map(|(_, &event_id)| event_id)
                    .collect();
                tally.events_accepted += accepted.len() as u64;
                if self.load.track {
                    let acked_at = Utc::now();
                    tally.accepted.extend(
                        accepted
                            .into_iter()
                            .map(|event_id| Accepted { event_id, acked_at }),
                    );
                }
            }
            Delivery::Refused { attempts, .. } | Delivery::GaveUp { attempts } => {
                tally.retries += u64::from(attempts - 1);
                if self.load.retry.is_some() {
                    tally.abandoned.extend(&ids);
                }
            }
        }
    }
}

/// Runs `load` to its end (and its retries to theirs) and reports.
pub async fn run(load: Load) -> Result<Report, lakehouse_client::Error> {
    let client = reqwest::Client::builder()
        .timeout(load.timeout)
        .pool_max_idle_per_host(load.concurrency * 8)
        .build()?;
    let start = Instant::now();
    let measured_from = start + load.warmup;
    let end = measured_from + load.duration;
    // Plain JSON, as the api's own figures are measured.
    let transport = Transport::with_client(client, &load.url, &load.api_key, false)?;
    let generator = Arc::new(Generator {
        transport,
        tally: Mutex::default(),
        measured_from,
        end,
        counter: AtomicU64::new(0),
        load,
    });

    let mut running = Vec::new();
    match generator.load.rate {
        None => {
            for _ in 0..generator.load.concurrency {
                let generator = generator.clone();
                running.push(tokio::spawn(async move {
                    while Instant::now() < generator.end {
                        generator.request().await;
                    }
                }));
            }
        }
        Some(rate) => {
            let in_flight = Arc::new(Semaphore::new(generator.load.concurrency * 8));
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while Instant::now() < generator.end {
                ticks.tick().await;
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    if Instant::now() >= generator.measured_from {
                        generator.tally().dropped += 1;
                    }
                    continue;
                };
                let generator = generator.clone();
                running.push(tokio::spawn(async move {
                    generator.request().await;
                    drop(permit);
                }));
            }
        }
    }
    for task in running {
        // A request task only panics if the generator itself is broken.
        task.await.expect("a request task panicked");
    }

    let mut tally = std::mem::take(&mut *generator.tally());
    tally.latencies_us.sort_unstable();
    Ok(Report {
        mode: if generator.load.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        seconds: generator.load.duration.as_secs_f64(),
        latencies_us: tally.latencies_us,
        statuses: tally.statuses,
        events_accepted: tally.events_accepted,
        dropped: tally.dropped,
        retries: tally.retries,
        abandoned: tally.abandoned,
        accepted: tally.accepted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_carries_one_distinct_id_per_event() {
        let (body, ids) = body(50, 7);
        let sent: Vec<Uuid> = body["batch"]
            .as_array()
            .expect("a batch")
            .iter()
            .map(|event| {
                event["event_id"]
                    .as_str()
                    .expect("an id")
                    .parse()
                    .expect("a UUID")
            })
            .collect();
        assert_eq!(sent, ids);
        assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 50);
    }

    #[test]
    fn the_mix_holds_every_event_type_the_warehouse_derives_from() {
        let kinds: std::collections::BTreeSet<String> = (0..100)
            .map(|n| body(1, n).0["event_type"].as_str().expect("a type").to_string())
            .collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["click", "conversion", "funnel_step", "page_view"]
        );
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&sorted, 0.5), 51.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
