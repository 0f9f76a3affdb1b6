//! This process's member of the consumer group: the rdkafka consumer with its rebalance
//! callbacks, subscribed to the events topic, and what the loop asks of it (messages, seeks,
//! pauses, watermarks, lag commits, a bounded close).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::assignment::Broker;
use crate::rebalance::RebalanceContext;
use crate::watermarks::{cached_watermarks, fetched_watermarks};

/// The consumer of one group member and the topic it reads.
pub(crate) struct GroupMember {
    consumer: StreamConsumer<RebalanceContext>,
    topic: String,
    /// The consumer's configuration for a client of its own that reads watermarks afresh.
    probe: ClientConfig,
}

impl GroupMember {
    /// A consumer made from `config` (a complete client configuration), not yet subscribed.
    pub(crate) fn new(config: &ClientConfig, topic: &str) -> Result<Self, KafkaError> {
        let group = config.get("group.id").unwrap_or_default();
        let mut probe = config.clone();
        probe
            .set("group.id", format!("{group}-watermarks"))
            .set("enable.auto.commit", "false");
        // The probe is a client of its own, never a member of the group.
        probe.remove("group.instance.id");
        let consumer = config.create_with_context(RebalanceContext::default())?;
        Ok(Self {
            consumer,
            topic: topic.into(),
            probe,
        })
    }

    /// Joins the group for the topic.
    pub(crate) fn subscribe(&self) -> Result<(), KafkaError> {
        self.consumer.subscribe(&[&self.topic])
    }

    /// What the rebalance callbacks recorded.
    pub(crate) fn rebalances(&self) -> &RebalanceContext {
        self.consumer.context()
    }

    /// The next message, or `None` once `deadline` passes. Rebalance callbacks run in here.
    pub(crate) async fn recv_until(&self, deadline: Instant) -> Option<Result<OwnedMessage, KafkaError>> {
        let receive = async { self.consumer.recv().await.map(|message| message.detach()) };
        tokio::time::timeout_at(deadline.into(), receive).await.ok()
    }

    /// Seeks with a longer timeout, for a message path seek (the partition is fetching).
    pub(crate) fn seek_to(&self, partition: i32, target: Offset) -> Result<(), KafkaError> {
        self.consumer
            .seek(&self.topic, partition, target, Duration::from_secs(10))
    }

    /// Tells Kafka the sink's new offsets, for lag monitoring only.
    pub(crate) fn commit_for_lag(&self, next_offsets: &BTreeMap<i32, i64>) {
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in next_offsets {
            let _ = offsets.add_partition_offset(&self.topic, partition, Offset::Offset(next));
        }
        if let Err(error) = self.consumer.commit(&offsets, CommitMode::Async) {
            tracing::debug!(%error, "Kafka offset commit (lag monitoring only) failed");
        }
    }

    /// The topic's partition numbers from a metadata request (blocks for up to `timeout`).
    pub(crate) fn topic_partitions(&self, timeout: Duration) -> Option<BTreeSet<i32>> {
        let metadata = self.consumer.fetch_metadata(Some(&self.topic), timeout).ok()?;
        Some(
            metadata
                .topics()
                .iter()
                .flat_map(|topic| topic.partitions().iter().map(|p| p.id()))
                .collect(),
        )
    }

    /// Closes the consumer (librdkafka leaves the group and stops its threads) on a thread of its
    /// own, waiting at most `timeout`: a close in the middle of a rebalance can hang in
    /// librdkafka. Past the timeout the process goes on, which is safe: offsets live in the sink,
    /// and the group drops the member when its session ends.
    pub(crate) async fn close_within(self, timeout: Duration, group: &str) {
        let (closed, done) = tokio::sync::oneshot::channel();
        let consumer = self.consumer;
        std::thread::spawn(move || {
            drop(consumer);
            let _ = closed.send(());
        });
        if tokio::time::timeout(timeout, done).await.is_err() {
            tracing::warn!(
                group,
                timeout_secs = timeout.as_secs(),
                "the Kafka consumer did not close in time; going on without it (its group drops it when its session ends)"
            );
        }
    }
}

impl Broker for GroupMember {
    fn seek(&self, partition: i32, target: Offset) -> Result<(), KafkaError> {
        self.consumer
            .seek(&self.topic, partition, target, Duration::from_secs(5))
    }

    fn cached_watermarks(&self, partition: i32) -> Option<(i64, i64)> {
        cached_watermarks(self.consumer.client(), &self.topic, partition)
    }

    async fn fresh_watermarks(&self, partition: i32) -> Option<(i64, i64)> {
        let (config, topic) = (self.probe.clone(), self.topic.clone());
        let probe = move || {
            fetched_watermarks(&config, &topic, &[partition], Duration::from_secs(3))
                .and_then(|marks| marks.get(&partition).copied())
        };
        tokio::task::spawn_blocking(probe).await.ok().flatten()
    }

    fn pause(&self, partition: i32) -> Result<(), KafkaError> {
        let mut paused = TopicPartitionList::new();
        paused.add_partition(&self.topic, partition);
        self.consumer.pause(&paused)
    }
}
