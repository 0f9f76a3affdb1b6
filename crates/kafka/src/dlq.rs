//! The dead-letter topic: messages a sink can never store go there with the reason and their
//! origin in headers, so that the loop can move past them without losing them.

use std::time::Duration;

use lakehouse_telemetry::metrics as names;
use rdkafka::Message;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

use crate::retry::{self, Backoff};

/// The producer of one consumer group's dead letters.
#[derive(Clone)]
pub(crate) struct DeadLetters {
    producer: FutureProducer,
    /// The topic the messages come from.
    source: String,
    topic: String,
    group: String,
}

impl DeadLetters {
    pub(crate) fn new(producer: FutureProducer, source: &str, topic: &str, group: &str) -> Self {
        Self {
            producer,
            source: source.into(),
            topic: topic.into(),
            group: group.into(),
        }
    }

    /// The producer, whose connection also answers the loop's readiness probe.
    pub(crate) fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Sends `message` with `error` and its origin in headers; retries until Kafka takes it (or
    /// `shutdown`), because the message's offset is committed after this.
    pub(crate) async fn send(&self, message: &OwnedMessage, error: &str, shutdown: &CancellationToken) {
        let (partition, offset) = (message.partition(), message.offset());
        tracing::warn!(partition, offset, error, dlq = %self.topic, "undecodable message sent to the dead-letter topic");
        let partition_text = partition.to_string();
        let offset_text = offset.to_string();
        let attempt = || {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "error",
                    value: Some(error),
                })
                .insert(Header {
                    key: "source_topic",
                    value: Some(self.source.as_str()),
                })
                .insert(Header {
                    key: "source_partition",
                    value: Some(partition_text.as_str()),
                })
                .insert(Header {
                    key: "source_offset",
                    value: Some(offset_text.as_str()),
                });
            let mut record = FutureRecord::to(&self.topic)
                .payload(message.payload().unwrap_or_default())
                .headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            let producer = &self.producer;
            async move {
                producer
                    .send(record, Duration::from_secs(5))
                    .await
                    .map_err(|(error, _)| error)
            }
        };
        let failed = |error: &KafkaError, _: Duration| tracing::error!(%error, dlq = %self.topic, "cannot write to the dead-letter topic; retrying");
        if retry::until_cancelled(Backoff::consume(), shutdown, attempt, failed)
            .await
            .is_some()
        {
            metrics::counter!(names::DLQ_MESSAGES_TOTAL, "group" => self.group.clone()).increment(1);
        }
    }
}
