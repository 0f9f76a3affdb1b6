//! Where accepted events go: Kafka in production, memory in router tests. A send succeeds only
//! when every event is acknowledged.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use lakehouse_event::{EnrichedEvent, SCHEMA_VERSION};
use lakehouse_kafka::KafkaArgs;
use lakehouse_telemetry::Health;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The producer's queue is full: Kafka is slower than the traffic.
    #[error("the producer queue is full")]
    QueueFull,
    /// Kafka did not acknowledge in time, or refused.
    #[error("Kafka did not acknowledge the events: {0}")]
    NotAcknowledged(String),
}

#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Returns once every event is durably stored, or fails; a failure means some events may have
    /// been stored, which the `event_id` deduplication downstream absorbs when the client retries.
    async fn send(&self, events: &[EnrichedEvent]) -> Result<(), SinkError>;
}

/// Produces to the events topic with `acks=all` and idempotence.
pub struct KafkaSink {
    config: ClientConfig,
    producer: RwLock<FutureProducer>,
    topic: String,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    pub fn new(kafka: &KafkaArgs, delivery_timeout: Duration) -> Result<Self, KafkaError> {
        let config = kafka.producer_config(delivery_timeout);
        Ok(Self {
            producer: RwLock::new(config.create()?),
            config,
            topic: kafka.topic.clone(),
        })
    }

    /// The producer in use (a cheap handle).
    fn producer(&self) -> FutureProducer {
        self.producer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces `used` when it has failed fatally or lost its producer identity (ProducerFenced
    /// and the other identity errors a broker may answer when an idempotent producer asks to bump
    /// its epoch after timed-out requests, DESIGN.md §6.6): such a producer refuses every later send.
    /// A new producer has a new identity: events answered 503 meanwhile are retried by clients
    /// with their ids, and the consumers deduplicate.
    fn replace_if_fatal(&self, used: &FutureProducer, error: Option<&KafkaError>) {
        let identity_lost = matches!(
            error,
            Some(KafkaError::MessageProduction(
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::InvalidProducerIdMapping
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
            ))
        );
        let Some((code, reason)) = used
            .client()
            .fatal_error()
            .or_else(|| identity_lost.then(|| (RDKafkaErrorCode::ProducerFenced, format!("{error:?}"))))
        else {
            return;
        };
        let mut current = self.producer.write().unwrap_or_else(PoisonError::into_inner);
        if current.client().native_ptr() != used.client().native_ptr() {
            return; // another request replaced it already
        }
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                tracing::error!(?code, %reason, "the Kafka producer failed fatally; replaced it with a new one");
                *current = fresh;
            }
            Err(error) => {
                tracing::error!(%error, "the Kafka producer failed fatally and cannot be replaced yet")
            }
        }
    }

    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer().flush(timeout) {
            tracing::error!(%error, "messages were still unacknowledged at shutdown");
        }
    }

    pub async fn watch(self: Arc<Self>, health: Health, shutdown: CancellationToken) {
        lakehouse_kafka::watch_brokers(self.producer(), self.topic.clone(), health, "kafka", shutdown).await;
    }
}

#[async_trait]
impl EventSink for KafkaSink {
    async fn send(&self, events: &[EnrichedEvent]) -> Result<(), SinkError> {
        let producer = self.producer();
        self.send_with(&producer, events).await.map_err(|(error, cause)| {
            self.replace_if_fatal(&producer, cause.as_ref());
            error
        })
    }
}

impl KafkaSink {
    /// Sends and awaits every acknowledgement; a failure comes with the Kafka error behind it.
    async fn send_with(
        &self,
        producer: &FutureProducer,
        events: &[EnrichedEvent],
    ) -> Result<(), (SinkError, Option<KafkaError>)> {
        let schema_version = SCHEMA_VERSION.to_string();
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            let payload =
                serde_json::to_vec(event).map_err(|e| (SinkError::NotAcknowledged(e.to_string()), None))?;
            let key = event.kafka_key();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "project_id",
                    value: Some(&event.project_id),
                })
                .insert(Header {
                    key: "event_type",
                    value: Some(&event.event_type),
                })
                .insert(Header {
                    key: "schema_version",
                    value: Some(&schema_version),
                });
            let record = FutureRecord::to(&self.topic)
                .key(&key)
                .payload(&payload)
                .headers(headers);
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err((SinkError::QueueFull, None));
                }
                Err((error, _)) => return Err((SinkError::NotAcknowledged(error.to_string()), Some(error))),
            }
        }
        // librdkafka reports every message within message.timeout.ms, so this cannot hang.
        for outcome in join_all(deliveries).await {
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    return Err((SinkError::NotAcknowledged(error.to_string()), Some(error)));
                }
                Err(_) => {
                    return Err((
                        SinkError::NotAcknowledged("the producer was dropped".into()),
                        None,
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Keeps what it is sent; can be told to fail, to test the 503 path.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<EnrichedEvent>>>,
    failing: Arc<Mutex<bool>>,
}

impl MemorySink {
    pub fn events(&self) -> Vec<EnrichedEvent> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = failing;
    }
}

#[async_trait]
impl EventSink for MemorySink {
    async fn send(&self, events: &[EnrichedEvent]) -> Result<(), SinkError> {
        if *self.failing.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(SinkError::NotAcknowledged("memory sink told to fail".into()));
        }
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}
