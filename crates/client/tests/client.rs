//! The client against a scripted api on a local port: what is sent, when, how often, with which
//! ids, and what is dropped. (The real api, broker and stores are in the load generator's and the
//! scenario's tests.)

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lakehouse_client::{Client, ClientConfig, Error, Event, RetryPolicy};
use serde_json::{Value, json};
use uuid::Uuid;

/// One request the api received.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    gzipped: bool,
    api_key: String,
    body: Value,
}

/// The `event_id` of an event's JSON.
fn id_of(event: &Value) -> Uuid {
    event["event_id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a UUID")
}

impl Received {
    fn ids(&self) -> Vec<Uuid> {
        self.body["batch"]
            .as_array()
            .expect("a batch")
            .iter()
            .map(id_of)
            .collect()
    }
}

/// An answer the api gives: status, body, `Retry-After`; or no answer at all.
#[derive(Debug, Clone)]
enum Answer {
    Status(u16, Value, Option<u64>),
    Hang,
}

fn accepted() -> Answer {
    Answer::Status(202, json!({"accepted": 1, "rejected": []}), None)
}

#[derive(Clone, Default)]
struct Api {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers in turn; when empty, 202.
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Api {
    async fn start(script: Vec<Answer>) -> (Self, String) {
        let api = Self {
            script: Arc::new(Mutex::new(script.into())),
            ..Self::default()
        };
        let app = Router::new()
            .route("/analytics", post(answer))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}/analytics", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (api, url)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("the log").clone()
    }

    /// Waits until `n` requests arrived (or panics after 20 s).
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests arrived",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn answer(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let gzipped = headers.get("content-encoding").is_some_and(|v| v == "gzip");
    let body = if gzipped {
        let mut inflated = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut inflated)
            .expect("a gzip body");
        inflated.into_bytes()
    } else {
        body.to_vec()
    };
    api.received.lock().expect("the log").push(Received {
        at: Instant::now(),
        gzipped,
        api_key: headers
            .get("x-api-key")
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .unwrap_or_default(),
        body: serde_json::from_slice(&body).expect("a JSON body"),
    });
    let next = api
        .script
        .lock()
        .expect("the script")
        .pop_front()
        .unwrap_or_else(accepted);
    match next {
        Answer::Status(status, body, retry_after) => {
            let mut response =
                (StatusCode::from_u16(status).expect("a status"), axum::Json(body)).into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert("retry-after", seconds.into());
            }
            response
        }
        Answer::Hang => std::future::pending().await,
    }
}

fn config(url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(url, "key-1");
    config.batch_size = 3;
    config.flush_interval = Duration::from_secs(3600);
    config.retry = RetryPolicy {
        base: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
    };
    config
}

async fn track(client: &Client, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            client
                .track(Event::new("click", "s-1").property("i", i))
                .await
                .expect("queued"),
        );
    }
    ids
}

#[tokio::test]
async fn a_full_batch_goes_at_once_with_its_ids_times_and_key() {
    let (api, url) = Api::start(vec![]).await;
    let client = Client::new(config(&url)).expect("a client");
    let ids = track(&client, 3).await;
    let received = api.wait_for(1).await;
    assert_eq!(received[0].ids(), ids);
    assert_eq!(received[0].api_key, "key-1");
    let event = &received[0].body["batch"][0];
    assert_eq!(event["event_type"], "click");
    assert!(event["timestamp"].is_string() && received[0].body["sent_at"].is_string());
    assert_eq!(client.shutdown(Duration::from_secs(5)).await.accepted, 3);
}

#[tokio::test]
async fn a_partial_batch_goes_after_the_flush_interval_and_not_before() {
    let (api, url) = Api::start(vec![]).await;
    let mut config = config(&url);
    config.flush_interval = Duration::from_millis(300);
    let client = Client::new(config).expect("a client");
    let queued = Instant::now();
    let ids = track(&client, 1).await;
    let received = api.wait_for(1).await;
    assert!(received[0].at - queued >= Duration::from_millis(300));
    assert_eq!(received[0].ids(), ids);
    client.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_503_is_retried_with_the_same_ids_not_before_retry_after() {
    let (api, url) = Api::start(vec![Answer::Status(
        503,
        json!({"error": {"code": "unavailable", "message": "Kafka did not acknowledge", "details": []}}),
        Some(1),
    )])
    .await;
    let client = Client::new(config(&url)).expect("a client");
    let ids = track(&client, 3).await;
    let received = api.wait_for(2).await;
    assert_eq!(received[0].ids(), ids);
    assert_eq!(received[1].ids(), ids, "the same events, the same ids");
    assert!(
        received[1].at - received[0].at >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    let report = client.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.accepted, report.retries, report.refused), (3, 1, 0));
    assert_eq!(api.received().len(), 2, "acknowledged events are not sent again");
}

#[tokio::test]
async fn a_429_a_408_and_a_502_are_retried_with_backoff() {
    let error = |code| json!({"error": {"code": code, "message": "", "details": []}});
    let (api, url) = Api::start(vec![
        Answer::Status(429, error("rate_limited"), None),
        Answer::Status(408, error("request_timeout"), None),
        Answer::Status(502, error("bad_gateway"), None),
    ])
    .await;
    let client = Client::new(config(&url)).expect("a client");
    let ids = track(&client, 3).await;
    let received = api.wait_for(4).await;
    assert!(received.iter().all(|r| r.ids() == ids));
    let gaps: Vec<Duration> = received.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, base) in gaps.iter().zip([50, 100, 200]) {
        assert!(*gap >= Duration::from_millis(base), "{gaps:?}");
    }
    assert_eq!(client.shutdown(Duration::from_secs(5)).await.retries, 3);
}

#[tokio::test]
async fn events_are_retried_through_a_connection_refused_until_the_api_is_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let client = Client::new(config(&format!("http://127.0.0.1:{port}/analytics"))).expect("a client");
    let ids = track(&client, 3).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.report().retries < 2 {
        assert!(Instant::now() < deadline, "no retries");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let api = Api::default();
    let app = Router::new()
        .route("/analytics", post(answer))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let received = api.wait_for(1).await;
    assert_eq!(received[0].ids(), ids);
    assert_eq!(client.shutdown(Duration::from_secs(5)).await.accepted, 3);
}

#[tokio::test]
async fn a_400_drops_the_batch_and_is_not_retried() {
    let (api, url) = Api::start(vec![Answer::Status(
        400,
        json!({"error": {"code": "invalid_events", "message": "no valid event", "details": [
            {"index": 0, "field": "event_type", "error": "must match ^[a-z][a-z0-9_]{0,63}$"}]}}),
        None,
    )])
    .await;
    let client = Client::new(config(&url)).expect("a client");
    client.track(Event::new("Bad Type", "s")).await.expect("queued");
    client.flush().await.expect("flushed");
    let report = client.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.accepted, report.refused, report.retries), (0, 1, 0));
    assert_eq!(api.received().len(), 1);
}

#[tokio::test]
async fn events_a_202_rejects_are_counted_refused_and_not_retried() {
    let (api, url) = Api::start(vec![Answer::Status(
        202,
        json!({"accepted": 2, "rejected": [{"index": 1, "field": "properties.step", "error": "must be an integer of at least 1"}]}),
        None,
    )])
    .await;
    let client = Client::new(config(&url)).expect("a client");
    track(&client, 3).await;
    client.flush().await.expect("flushed");
    let report = client.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.accepted, report.refused), (2, 1));
    assert_eq!(api.received().len(), 1);
}

#[tokio::test]
async fn memory_is_bounded_try_track_refuses_when_full_and_counts_it() {
    let (_api, url) = Api::start(vec![Answer::Hang]).await;
    let mut config = config(&url);
    config.max_queue = 4;
    config.request_timeout = Duration::from_secs(3600);
    let client = Client::new(config).expect("a client");
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        outcomes.push(client.try_track(Event::new("click", "s")));
    }
    let full = outcomes
        .iter()
        .filter(|o| matches!(o, Err(Error::QueueFull)))
        .count();
    assert!(
        full >= 20 - 4 - 3,
        "{full} refused of 20 (room for 4 queued and a batch of 3 in flight)"
    );
    assert_eq!(client.report().dropped, full as u64);
}

#[tokio::test]
async fn the_queue_is_bounded_by_bytes_too() {
    let (_api, url) = Api::start(vec![Answer::Hang]).await;
    let mut config = config(&url);
    config.max_queue_bytes = 40 * 1024;
    config.request_timeout = Duration::from_secs(3600);
    let client = Client::new(config).expect("a client");
    let big = || Event::new("click", "s").property("pad", "x".repeat(15 * 1024));
    assert!(client.try_track(big()).is_ok());
    assert!(client.try_track(big()).is_ok());
    assert!(matches!(client.try_track(big()), Err(Error::QueueFull)));
    assert!(matches!(
        client.try_track(Event::new("click", "s").property("pad", "x".repeat(40 * 1024))),
        Err(Error::EventTooLarge(_))
    ));
}

#[tokio::test]
async fn shutdown_sends_what_is_queued() {
    let (api, url) = Api::start(vec![]).await;
    let client = Client::new(config(&url)).expect("a client");
    let ids = track(&client, 5).await;
    let report = client.shutdown(Duration::from_secs(5)).await;
    let sent: Vec<Uuid> = api.received().iter().flat_map(Received::ids).collect();
    assert_eq!(sent, ids);
    assert_eq!((report.accepted, report.undelivered.len()), (5, 0));
}

#[tokio::test]
async fn a_dropped_client_still_sends_what_is_queued() {
    let (api, url) = Api::start(vec![]).await;
    // A batch of 3 and an hour's flush interval: only the drop sends these two.
    let client = Client::new(config(&url)).expect("a client");
    let ids = track(&client, 2).await;
    drop(client);
    let received = api.wait_for(1).await;
    assert_eq!(received[0].ids(), ids);
}

#[tokio::test]
async fn shutdown_stops_at_its_deadline_and_names_what_is_undelivered() {
    let unavailable = Answer::Status(
        503,
        json!({"error": {"code": "unavailable", "message": "", "details": []}}),
        Some(1),
    );
    let (_api, url) = Api::start(vec![unavailable; 100]).await;
    let client = Client::new(config(&url)).expect("a client");
    let ids = track(&client, 5).await;
    let started = Instant::now();
    let report = client.shutdown(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.undelivered.iter().map(id_of).collect::<Vec<_>>(), ids);
    assert_eq!(report.accepted, 0);
}

#[tokio::test]
async fn a_large_batch_is_gzipped() {
    let (api, url) = Api::start(vec![]).await;
    let client = Client::new(config(&url)).expect("a client");
    client
        .track(Event::new("click", "s").property("text", "x".repeat(2000)))
        .await
        .expect("queued");
    client.track(Event::new("click", "s")).await.expect("queued");
    client.flush().await.expect("flushed");
    client.track(Event::new("click", "s")).await.expect("queued");
    client.flush().await.expect("flushed");
    let received = api.received();
    assert_eq!(received.len(), 2);
    assert!(received[0].gzipped, "over 1 KiB: gzipped");
    assert!(!received[1].gzipped, "small: as it is");
    client.shutdown(Duration::from_secs(5)).await;
}
