//! Test helpers for the real components that `scripts/stack up` starts. Tests read where the stack
//! is from the environment that `scripts/stack env` prints (with the stack's own defaults), and
//! make their own topic, database and lake prefix, so that tests run in parallel without
//! touching each other or the pipeline's own data.

pub mod browser;
pub mod child;
pub mod faults;
pub mod watermarks;
pub mod workload;

pub use browser::Browser;
pub use child::{
    SESSION_TIMEOUT, random_between, short_session_flag, spawn_service, spawn_service_logging_to,
};
pub use faults::{Frozen, Part};
pub use watermarks::{high_watermarks, message_count};
pub use workload::reference_event;

use std::future::Future;
use std::time::{Duration, Instant};

use lakehouse_event::EnrichedEvent;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::{Connection, Executor, PgConnection};

/// Where the local stack listens.
#[derive(Debug, Clone)]
pub struct Stack {
    pub kafka_brokers: String,
    pub database_url: String,
    pub aws_endpoint_url: String,
    pub aws_access_key_id: String,
    pub aws_secret_access_key: String,
    pub aws_region: String,
    pub bucket: String,
    /// A Python with the `deltalake` package, to read our tables as an analyst would.
    pub python: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

impl Stack {
    pub fn from_env() -> Self {
        Self {
            kafka_brokers: env_or("KAFKA_BROKERS", "127.0.0.1:9092"),
            database_url: env_or(
                "DATABASE_URL",
                "postgres://lakehouse:lakehouse@127.0.0.1:5432/lakehouse",
            ),
            aws_endpoint_url: env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            aws_access_key_id: env_or("AWS_ACCESS_KEY_ID", "lakehouse"),
            aws_secret_access_key: env_or("AWS_SECRET_ACCESS_KEY", "lakehouse-secret"),
            aws_region: env_or("AWS_REGION", "us-east-1"),
            bucket: env_or("LAKE_BUCKET", "lakehouse"),
            python: std::env::var("LAKEHOUSE_PYTHON")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| {
                    let home = std::env::var("HOME").unwrap_or_default();
                    format!("{home}/.cache/lakehouse/pydeltalake-1.6.6/bin/python")
                }),
        }
    }

    /// A Kafka client configuration for the stack's broker.
    pub fn kafka_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.kafka_brokers);
        config
    }

    /// A fresh `s3://` lake root in the stack's bucket.
    pub fn s3_lake_uri(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, unique(name))
    }

    /// The `--aws-*` flags that point a lake command at the stack's object store.
    pub fn aws_flags(&self) -> Vec<String> {
        vec![
            format!("--aws-endpoint-url={}", self.aws_endpoint_url),
            format!("--aws-access-key-id={}", self.aws_access_key_id),
            format!("--aws-secret-access-key={}", self.aws_secret_access_key),
            format!("--aws-region={}", self.aws_region),
        ]
    }
}

/// `prefix` made unique to this test run.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// A topic (and its dead-letter topic) made for one test, under a name no other test uses.
///
/// It is not deleted afterwards: librdkafka 2.12 crashes (in its metadata cache) when a topic is
/// deleted under clients that still use it, which is what a failing test leaves behind. The
/// broker's memory storage is cleared when the stack restarts.
#[derive(Debug)]
pub struct TestTopic {
    pub name: String,
    pub dlq: String,
}

impl TestTopic {
    pub async fn create(stack: &Stack, partitions: i32) -> Self {
        let name = unique("test-events");
        let dlq = format!("{name}.dlq");
        let config = stack.kafka_config();
        for topic in [&name, &dlq] {
            lakehouse_kafka::ensure_topic(&config, topic, partitions, 1)
                .await
                .unwrap_or_else(|e| {
                    panic!("cannot create topic {topic} (is `scripts/stack up` running?): {e}")
                });
        }
        Self { name, dlq }
    }

    /// The `--kafka-*` flags that point a service at this topic.
    pub fn flags(&self, stack: &Stack) -> Vec<String> {
        vec![
            format!("--kafka-brokers={}", stack.kafka_brokers),
            format!("--kafka-topic={}", self.name),
            format!("--kafka-dlq-topic={}", self.dlq),
        ]
    }
}

/// An enriched event as the api would produce it, for tests that feed Kafka directly.
pub fn sample_event(session_id: &str) -> EnrichedEvent {
    let now = chrono::Utc::now();
    EnrichedEvent {
        event_id: uuid::Uuid::now_v7(),
        project_id: "test".into(),
        event_type: "page_view".into(),
        event_name: None,
        session_id: session_id.into(),
        user_id: None,
        visitor_id: None,
        timestamp: now,
        timestamp_clamped: false,
        sent_at: None,
        received_at: now,
        url: Some("https://shop.example/".into()),
        host: Some("shop.example".into()),
        path: Some("/".into()),
        referrer: None,
        title: None,
        value: None,
        properties: Default::default(),
        browser: None,
        os: None,
        device_type: None,
        country: None,
        schema_version: lakehouse_event::SCHEMA_VERSION,
    }
}

/// Produces `events` to the topic as the api does (keyed by project and session), waiting for
/// every acknowledgement.
pub async fn produce(stack: &Stack, topic: &str, events: &[EnrichedEvent]) {
    produce_raw(stack, topic, &encoded(events)).await;
}

/// Each event as the api produces it: its Kafka key and its JSON.
fn encoded(events: &[EnrichedEvent]) -> Vec<(String, Vec<u8>)> {
    events
        .iter()
        .map(|event| {
            (
                event.kafka_key(),
                serde_json::to_vec(event).expect("an event encodes"),
            )
        })
        .collect()
}

/// Produces `events` all at once, so that the producer packs them into record batches of many
/// records each, as a busy api does (`produce` sends one record per batch).
pub async fn produce_batched(stack: &Stack, topic: &str, events: &[EnrichedEvent]) {
    let producer: FutureProducer = stack
        .kafka_config()
        .set("linger.ms", "200")
        .create()
        .expect("a Kafka producer");
    let messages = encoded(events);
    let mut deliveries = Vec::new();
    for (key, payload) in &messages {
        let record = FutureRecord::to(topic).key(key).payload(payload);
        deliveries.push(
            producer
                .send_result(record)
                .unwrap_or_else(|(e, _)| panic!("cannot queue for {topic}: {e}")),
        );
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("the producer is alive")
            .unwrap_or_else(|(e, _)| panic!("cannot produce to {topic}: {e}"));
    }
}

/// Produces `(key, payload)` messages as they are, e.g. a payload no consumer can decode.
pub async fn produce_raw(stack: &Stack, topic: &str, messages: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = stack.kafka_config().create().expect("a Kafka producer");
    for (key, payload) in messages {
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("cannot produce to {topic}: {e}"));
    }
}

/// A consumer of its own group, subscribed to `topic` from its beginning.
pub fn reader(stack: &Stack, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = stack
        .kafka_config()
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// Reads `topic` from the beginning (in a group of its own) until `count` messages arrived, or
/// panics after `timeout`.
pub async fn consume(stack: &Stack, topic: &str, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let consumer = reader(stack, topic);
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while messages.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(error)) => panic!("reading {topic}: {error}"),
            Err(_) => panic!(
                "timed out after {timeout:?} with {} of {count} messages from {topic}",
                messages.len()
            ),
        }
    }
    messages
}

/// The key of the end markers [`read_to_end`] writes.
pub const END_MARKER: &str = "lakehouse-test-end-marker";

/// Every message `topic` holds now: writes an end marker to each of its `partitions`, then reads
/// from the beginning until each partition's marker came back (or panics after `timeout`). Nothing
/// is guessed from a wait: a partition is known to be read to its end when its marker is read.
/// The markers stay in the topic, so consumers that would read them must be stopped first.
pub async fn read_to_end(
    stack: &Stack,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let producer: FutureProducer = stack.kafka_config().create().expect("a Kafka producer");
    for partition in 0..partitions {
        producer
            .send(
                FutureRecord::<str, [u8]>::to(topic)
                    .partition(partition)
                    .key(END_MARKER)
                    .payload(&[]),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("cannot write the end marker to {topic}: {e}"));
    }
    let consumer = reader(stack, topic);
    let (mut messages, mut ended) = (Vec::new(), std::collections::BTreeSet::new());
    let deadline = tokio::time::Instant::now() + timeout;
    while ended.len() < partitions as usize {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) if message.key() == Some(END_MARKER.as_bytes()) => {
                ended.insert(message.partition());
            }
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(error)) => panic!("reading {topic}: {error}"),
            Err(_) => panic!(
                "timed out after {timeout:?} reading {topic}: {} of {partitions} partitions read to their end",
                ended.len()
            ),
        }
    }
    messages
}

/// A database made for one test, dropped (with its connections) when the value is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TempDatabase {
    pub async fn create(stack: &Stack) -> Self {
        let name = unique("test").replace('-', "_");
        let mut admin = PgConnection::connect(&stack.database_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL (is `scripts/stack up` running?): {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        let url = replace_database(&stack.database_url, &name);
        Self {
            name,
            url,
            admin_url: stack.database_url.clone(),
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ = admin.execute(statement.as_str()).await;
                    }
                });
            }
        })
        .join();
    }
}

/// The same URL with another database name (the path), keeping any query string.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what` and the last
/// value seen. The way tests wait: on a condition, never a fixed sleep.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_credentials_host_and_query() {
        assert_eq!(
            replace_database("postgres://u:p@h:5432/main?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/main", "t2"),
            "postgres://u:p@h/t2"
        );
    }

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
}
