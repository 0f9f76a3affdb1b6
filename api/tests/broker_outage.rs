//! The api against the real broker when the broker hangs (`SIGSTOP`, as a frozen VM or a long
//! GC pause looks): requests are answered 503 with `Retry-After` within the produce timeout, never
//! 2xx; once the broker resumes, 2xx again; and every event answered 2xx is in the topic exactly
//! once. It freezes the stack's shared broker, so it is its own test target (cargo runs test
//! targets one after another).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use lakehouse_api::ApiConfig;
use lakehouse_testkit::{Frozen, Part, Stack, TestTopic, reader, wait_until};
use rdkafka::Message;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const PRODUCE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Posts one event with its own id; returns the status, `Retry-After`, and how long it took.
async fn post(client: &reqwest::Client, url: &str, id: uuid::Uuid) -> (u16, Option<String>, Duration) {
    let (status, retry_after, took, _) = post_with_body(client, url, id).await;
    (status, retry_after, took)
}

async fn post_with_body(
    client: &reqwest::Client,
    url: &str,
    id: uuid::Uuid,
) -> (u16, Option<String>, Duration, String) {
    let started = Instant::now();
    let response = client
        .post(url)
        .header("x-api-key", "key-1")
        .json(&json!({"event_id": id, "event_type": "page_view", "session_id": "outage"}))
        .send()
        .await
        .expect("the api answers");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    (status, retry_after, started.elapsed(), body)
}

/// How many times each `event_id` is in `topic`: read until every id of `expected` was seen and
/// then nothing more arrived for a second (a duplicate would come within it).
async fn id_counts(stack: &Stack, topic: &str, expected: &[uuid::Uuid]) -> HashMap<String, usize> {
    let consumer = reader(stack, topic);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all_seen = expected.iter().all(|id| counts.contains_key(&id.to_string()));
        let wait = if all_seen {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(Ok(message)) => {
                let event: serde_json::Value =
                    serde_json::from_slice(message.payload().unwrap_or_default()).expect("JSON");
                let id = event["event_id"].as_str().unwrap_or_default().to_string();
                *counts.entry(id).or_default() += 1;
            }
            Ok(Err(error)) => panic!("reading {topic}: {error}"),
            Err(_) if all_seen => return counts,
            Err(_) => assert!(
                Instant::now() < deadline,
                "events missing from {topic}: {counts:?}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_broker_is_503_within_the_timeout_and_every_2xx_event_is_in_the_topic_once() {
    lakehouse_telemetry::init_logging("api-test", lakehouse_telemetry::LogFormat::Pretty);
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let mut args = vec!["lakehouse-api".to_string()];
    args.extend(topic.flags(&stack));
    args.extend([
        "--api-keys=shop:key-1".to_string(),
        "--visitor-id-secret-ephemeral".into(),
        format!("--produce-timeout-ms={}", PRODUCE_TIMEOUT.as_millis()),
        "--log-format=pretty".into(),
    ]);
    let config = ApiConfig::parse_from(args);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/analytics", listener.local_addr().expect("an address"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(lakehouse_api::serve(config, listener, shutdown.clone()));
    let client = reqwest::Client::new();
    let mut accepted = Vec::new();

    for _ in 0..10 {
        let id = uuid::Uuid::new_v4();
        assert_eq!(post(&client, &url, id).await.0, 202, "the broker is up");
        accepted.push(id);
    }

    let frozen = Frozen::freeze(Part::Tansu);
    for _ in 0..3 {
        let (status, retry_after, took) = post(&client, &url, uuid::Uuid::new_v4()).await;
        assert_eq!(status, 503, "never 2xx while the broker hangs");
        assert!(retry_after.is_some(), "a 503 says when to retry");
        assert!(
            took < PRODUCE_TIMEOUT + Duration::from_secs(2),
            "answered within the produce timeout: {took:?}"
        );
    }
    drop(frozen);

    let first_after = wait_until("a 2xx once the broker is back", Duration::from_secs(60), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let id = uuid::Uuid::new_v4();
            match post_with_body(&client, &url, id).await {
                (202, _, _, _) => Ok(id),
                (status, _, _, body) => Err(format!("status {status}: {body}")),
            }
        }
    })
    .await;
    accepted.push(first_after);
    for _ in 0..10 {
        let id = uuid::Uuid::new_v4();
        assert_eq!(post(&client, &url, id).await.0, 202);
        accepted.push(id);
    }
    shutdown.cancel();
    server.await.expect("the server task").expect("a clean shutdown");

    // A 503'd event may or may not be in the topic: the client retries it with its id, and the
    // consumers deduplicate. A 2xx one must be there, once.
    let counts = id_counts(&stack, &topic.name, &accepted).await;
    for id in &accepted {
        assert_eq!(
            counts.get(&id.to_string()),
            Some(&1),
            "{id} answered 202 is in the topic once"
        );
    }
}
