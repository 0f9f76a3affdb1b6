//! Kafka for tests: a topic of the test's own, producing events as the api does, and reading a
//! topic back (to a count, or to its end).

use std::time::Duration;

use lakehouse_event::EnrichedEvent;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::{Stack, unique};

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
    send_all(
        stack.kafka_config().set("linger.ms", "200"),
        topic,
        &encoded(events),
    )
    .await;
}

/// Produces `events` all at once, but each in a record batch of its own: as fast as
/// [`produce_batched`] on many partitions, while every offset starts a batch. tansu 0.6 answers a
/// fetch from an offset inside a batch of many records with the batch after it (DESIGN.md §6.6),
/// which a test of something else (killed writers) must not run into.
pub async fn produce_unbatched(stack: &Stack, topic: &str, events: &[EnrichedEvent]) {
    send_all(
        stack.kafka_config().set("batch.num.messages", "1"),
        topic,
        &encoded(events),
    )
    .await;
}

/// Queues every message at once on a producer of `config`, then waits for every acknowledgement.
async fn send_all(config: &ClientConfig, topic: &str, messages: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = config.create().expect("a Kafka producer");
    let deliveries: Vec<_> = messages
        .iter()
        .map(|(key, payload)| {
            producer
                .send_result(FutureRecord::to(topic).key(key).payload(payload))
                .unwrap_or_else(|(e, _)| panic!("cannot queue for {topic}: {e}"))
        })
        .collect();
    for delivery in deliveries {
        delivery
            .await
            .expect("the producer is alive")
            .unwrap_or_else(|(e, _)| panic!("cannot produce to {topic}: {e}"));
    }
}

/// Produces `(key, payload)` messages as they are, e.g. a payload no consumer can decode.
pub async fn produce_raw(stack: &Stack, topic: &str, messages: &[(String, Vec<u8>)]) {
    send(stack, topic, None, messages).await;
}

/// Produces `(key, payload)` messages as they are into `partition`, whatever their keys.
pub async fn produce_raw_to(stack: &Stack, topic: &str, partition: i32, messages: &[(String, Vec<u8>)]) {
    send(stack, topic, Some(partition), messages).await;
}

async fn send(stack: &Stack, topic: &str, partition: Option<i32>, messages: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = stack.kafka_config().create().expect("a Kafka producer");
    for (key, payload) in messages {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        record.partition = partition;
        producer
            .send(record, Duration::from_secs(10))
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
