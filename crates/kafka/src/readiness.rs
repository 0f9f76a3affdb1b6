//! The readiness checks the consume loop maintains, and the one from Kafka's point of view: the
//! brokers answer a metadata request for our topic.

use std::time::Duration;

use lakehouse_telemetry::Health;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use tokio_util::sync::CancellationToken;

use crate::sink::SINK_CHECK;

/// The name of the readiness check the loop maintains for Kafka.
pub(crate) const KAFKA_CHECK: &str = "kafka";
/// The name of the readiness check that fails while a partition cannot be read safely.
pub(crate) const OFFSETS_CHECK: &str = "offsets";
/// The name of the readiness check that fails while the member holds no partition and the
/// group's partitions grow unread.
pub(crate) const PARTITIONS_CHECK: &str = "partitions";
/// The name of the readiness check that fails while a partition is held at an event of a
/// contract version this code does not know.
pub(crate) const SCHEMA_CHECK: &str = "schema";

/// The names of the readiness checks the loop maintains.
pub(crate) const CHECKS: [&str; 5] = [
    KAFKA_CHECK,
    SINK_CHECK,
    OFFSETS_CHECK,
    PARTITIONS_CHECK,
    SCHEMA_CHECK,
];

/// How often the brokers are asked.
const INTERVAL: Duration = Duration::from_secs(5);

/// Asks the brokers for `topic`'s metadata through `producer`'s connection.
async fn brokers_reachable(producer: &FutureProducer, topic: &str) -> Result<(), KafkaError> {
    let producer = producer.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(&topic), Duration::from_secs(3))
            .map(|_| ())
    })
    .await
    .unwrap_or(Err(KafkaError::Canceled))
}

/// Keeps the readiness check `check` in line with the brokers' answers until `shutdown`.
pub async fn watch_brokers(
    producer: FutureProducer,
    topic: String,
    health: Health,
    check: &'static str,
    shutdown: CancellationToken,
) {
    loop {
        match brokers_reachable(&producer, &topic).await {
            Ok(()) => health.set_ok(check),
            Err(error) => {
                tracing::warn!(%error, topic = %topic, "Kafka brokers do not answer; /ready answers 503");
                health.set_failed(check, error);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
