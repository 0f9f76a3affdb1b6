//! This process's member of the consumer group: the rdkafka consumer with its rebalance
//! callbacks, subscribed to the events topic, and what the loop asks of it (messages, seeks,
//! pauses, watermarks, lag commits, a bounded close).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::assignment::Broker;
use crate::rebalance::RebalanceContext;
use crate::watchdog::Probe;
use crate::watermarks::{cached_watermarks, fetched_watermarks};

/// librdkafka's `session.timeout.ms` when the configuration does not set it.
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// How long a probe of the broker may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

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

    /// The session timeout `config` gives the member: the group drops a member it has not heard
    /// from for that long.
    pub(crate) fn session_timeout(config: &ClientConfig) -> Duration {
        config
            .get("session.timeout.ms")
            .and_then(|ms| ms.trim().parse().ok())
            .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_millis)
    }

    /// Leaves the group (a LeaveGroup request, static member or not), closes the consumer within
    /// `timeout`, and joins again with a new consumer made from `config` as a *dynamic* member: a
    /// broker that keeps a static member's stale assignment (DESIGN.md §6) cannot hand it back.
    pub(crate) async fn rejoin(
        &mut self,
        config: &ClientConfig,
        timeout: Duration,
        group: &str,
    ) -> Result<(), KafkaError> {
        let mut config = config.clone();
        config.remove("group.instance.id");
        let fresh = config.create_with_context(RebalanceContext::default())?;
        let old = std::mem::replace(&mut self.consumer, fresh);
        // The old consumer leaves on a thread of its own: its unsubscribe can wait for a
        // rebalance callback that only a poll would serve, and nothing polls it any more.
        finish_within(old, true, timeout, group).await;
        self.subscribe()
    }

    /// The broker's high watermarks of every partition of the topic and the group's committed
    /// offsets, from clients of their own (an OffsetFetch, without joining the group), on a
    /// blocking task; `None` when the broker does not answer within a few seconds.
    pub(crate) fn probe(&self, group: &str) -> tokio::task::JoinHandle<Option<Probe>> {
        let (mut config, topic, group) = (self.probe.clone(), self.topic.clone(), group.to_string());
        let probe = move || -> Option<Probe> {
            let client: BaseConsumer = config.create().ok()?;
            let metadata = client.fetch_metadata(Some(&topic), PROBE_TIMEOUT).ok()?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            let marks = fetched_watermarks(&config, &topic, &partitions, PROBE_TIMEOUT)?;
            let highs = marks.iter().map(|(&p, &(_, high))| (p, high)).collect();
            let lows = marks.iter().map(|(&p, &(low, _))| (p, low)).collect();
            config.set("group.id", group);
            let client: BaseConsumer = config.create().ok()?;
            let mut wanted = TopicPartitionList::new();
            for &partition in &partitions {
                wanted.add_partition(&topic, partition);
            }
            let committed = client
                .committed_offsets(wanted, PROBE_TIMEOUT)
                .ok()?
                .elements()
                .iter()
                .filter_map(|element| match element.offset() {
                    Offset::Offset(offset) => Some((element.partition(), offset)),
                    _ => None,
                })
                .collect();
            Some(Probe {
                highs,
                lows,
                committed,
            })
        };
        tokio::task::spawn_blocking(probe)
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

    /// Closes the consumer (librdkafka leaves the group and stops its threads) within `timeout`.
    pub(crate) async fn close_within(self, timeout: Duration, group: &str) {
        close_within(self.consumer, timeout, group).await;
    }
}

/// Closes `consumer` on a thread of its own, waiting at most `timeout`: a close in the middle of a
/// rebalance can hang in librdkafka. Past the timeout the process goes on, which is safe: offsets
/// live in the sink, and the group drops the member when its session ends.
async fn close_within(consumer: StreamConsumer<RebalanceContext>, timeout: Duration, group: &str) {
    finish_within(consumer, false, timeout, group).await;
}

/// Closes `consumer` as [`close_within`] does, after unsubscribing it first when `leave` (a
/// LeaveGroup, so that the group need not wait for its session to end), all on that thread.
async fn finish_within(
    consumer: StreamConsumer<RebalanceContext>,
    leave: bool,
    timeout: Duration,
    group: &str,
) {
    let (closed, done) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        if leave {
            consumer.unsubscribe();
        }
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
