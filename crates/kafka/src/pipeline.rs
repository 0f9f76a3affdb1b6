//! The consume loop shared by the sinks: read, check each message against the sink's stored
//! position, decode (poison messages go to the dead-letter topic), batch, and hand each batch to the
//! sink, which commits its records and offsets atomically. A failed commit is retried with backoff
//! for as long as it takes; nothing is dropped and nothing is written twice. Kafka's own commits
//! follow only to feed lag monitoring.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::watermarks::{cached_watermarks, fetched_watermarks};

use async_trait::async_trait;
use lakehouse_event::EnrichedEvent;
use lakehouse_telemetry::Health;
use lakehouse_telemetry::metrics as names;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::batch::{Batch, FlushPolicy, Record};
use crate::position::{Admission, Positions};
use crate::service::Backoff;

/// The name of the readiness check the loop maintains for its sink.
pub(crate) const SINK_CHECK: &str = "sink";
/// The name of the readiness check the loop maintains for Kafka.
const KAFKA_CHECK: &str = "kafka";
/// The name of the readiness check that fails while a partition cannot be read safely.
const OFFSETS_CHECK: &str = "offsets";

/// A store that commits a batch and its offsets in one atomic step.
#[async_trait]
pub trait BatchSink: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The offset of the next message the sink expects from `partition`, or `None` when it has
    /// stored nothing of it.
    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, Self::Error>;

    /// Writes the batch's records (those it holds and those [`BatchSink::offer`] kept) and stores
    /// its `next_offsets`, all or nothing. Writing a batch whose offsets are already stored must
    /// change nothing (a retry after an unclear failure). A sink that keeps records forgets them
    /// once they are committed, and keeps them for the next attempt when the write fails.
    async fn write(&mut self, batch: &Batch) -> Result<(), Self::Error>;

    /// Offered each decoded record as the loop admits it into the batch. The default hands it
    /// back for the batch to hold until [`BatchSink::write`]; a sink that encodes records as they
    /// arrive (the lake, into Parquet) keeps it instead, so that nothing is held twice.
    async fn offer(&mut self, record: Record) -> Offered {
        Offered::Declined(record)
    }

    /// The batch was dropped without a commit (a rebalance, or a shutdown that could not
    /// commit): forget the records [`BatchSink::offer`] kept. The loop reads them again from the
    /// stored offsets.
    fn discard(&mut self) {}

    /// After each rebalance, before the partitions' stored offsets are asked for: the partitions
    /// of `topic` the member holds now (empty between a revocation and the next assignment). A
    /// sink may prepare them all at once (the lake loads their deduplication windows) and forget
    /// what it kept for the others; [`BatchSink::stored_offset`] must still work without it.
    async fn assigned(&mut self, _topic: &str, _partitions: &BTreeSet<i32>) {}
}

/// What a sink did with a record the loop offered it (see [`BatchSink::offer`]).
#[derive(Debug)]
pub enum Offered {
    /// The batch holds the record.
    Declined(Record),
    /// The sink keeps the record; it now holds `held_bytes` for the whole batch, which
    /// `FlushPolicy::max_bytes` is compared with.
    Kept { held_bytes: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot create the Kafka consumer or producer: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot subscribe to {topic}: {source}")]
    Subscribe {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error(
        "the sink's stored offsets of partitions {partitions:?} are past the end of the log (was the topic recreated?); reset them"
    )]
    PastEnd { partitions: Vec<i32> },
}

/// Records that a rebalance happened, so the loop drops what it has not committed, and which
/// partitions were assigned, so the loop seeks each to the sink's position.
#[derive(Debug, Default)]
struct RebalanceContext {
    rebalanced: AtomicBool,
    assigned: Mutex<BTreeSet<i32>>,
}

impl RebalanceContext {
    fn take_assigned(&self) -> BTreeSet<i32> {
        std::mem::take(&mut *self.assigned.lock().unwrap_or_else(|poison| poison.into_inner()))
    }
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                let numbers = partition_numbers(partitions);
                tracing::info!(partitions = ?numbers, "partitions assigned");
                self.assigned
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .extend(numbers);
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = ?partition_numbers(partitions), "partitions revoked")
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
        self.rebalanced.store(true, Ordering::SeqCst);
    }
}

fn partition_numbers(list: &TopicPartitionList) -> Vec<i32> {
    list.elements()
        .iter()
        .map(|element| element.partition())
        .collect()
}

/// One consumer group member feeding one sink.
pub struct Pipeline<S: BatchSink> {
    consumer: StreamConsumer<RebalanceContext>,
    dlq: FutureProducer,
    group: String,
    topic: String,
    dlq_topic: String,
    policy: FlushPolicy,
    sink: S,
    health: Health,
    until_caught_up: bool,
    /// The consumer's configuration for a client of its own that reads watermarks afresh.
    probe: ClientConfig,
}

/// What the loop knows about the partitions of the current assignment; replaced at every
/// rebalance.
#[derive(Debug, Default)]
struct Assignment {
    partitions: BTreeSet<i32>,
    /// Partitions not yet sought to the sink's stored position.
    unsought: BTreeSet<i32>,
    /// The sink's stored offsets, as read for the seeks: a seek librdkafka refuses is retried
    /// without asking the sink again (for the lake, a read of the table).
    stored: BTreeMap<i32, Option<i64>>,
    /// Partitions whose read position is not yet checked against the end of the log.
    unverified: BTreeSet<i32>,
    /// Low and high watermarks of each partition, from the first fetch after assignment.
    ends: BTreeMap<i32, (i64, i64)>,
    /// Partitions whose stored offset lies past the log's end: paused, never read.
    past_end: BTreeSet<i32>,
}

impl Assignment {
    fn new(partitions: BTreeSet<i32>) -> Self {
        Self {
            unsought: partitions.clone(),
            partitions,
            ..Self::default()
        }
    }

    /// True when every assigned partition was sought, checked against its log, and read up to
    /// its end as of assignment.
    fn caught_up(&self, positions: &Positions) -> bool {
        !self.partitions.is_empty()
            && self.unsought.is_empty()
            && self.unverified.is_empty()
            && self.partitions.iter().all(|p| {
                self.past_end.contains(p)
                    || self.ends.get(p).is_some_and(|&(low, high)| {
                        high <= low || positions.next(*p).is_some_and(|next| next >= high)
                    })
            })
    }
}

impl<S: BatchSink> std::fmt::Debug for Pipeline<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("group", &self.group)
            .field("topic", &self.topic)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// How long the Kafka client may take to leave its group and close when the loop ends.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Closes the consumer (librdkafka leaves the group and stops its threads) on a thread of its
/// own, waiting at most `timeout`. The soak found a delta-writer asked to stop in the middle of a
/// rebalance still in librdkafka's close a minute later; past the timeout the process goes on and
/// exits, which is safe: offsets live in the sink, and the group drops the member when its
/// session ends.
async fn close_within(consumer: StreamConsumer<RebalanceContext>, timeout: Duration, group: &str) {
    let (closed, done) = tokio::sync::oneshot::channel();
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

/// How often the loop wakes up without a message.
const TICK: Duration = Duration::from_millis(500);

/// Retries start at 200 ms and double up to 10 s.
fn backoff() -> Backoff {
    Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
}

impl<S: BatchSink> Pipeline<S> {
    /// `consumer` and `producer` are complete client configurations (see
    /// [`crate::KafkaArgs::consumer_config`]); `health` must have the checks `kafka` and `sink`.
    pub fn new(
        consumer: &ClientConfig,
        producer: &ClientConfig,
        topic: &str,
        dlq_topic: &str,
        policy: FlushPolicy,
        sink: S,
        health: Health,
    ) -> Result<Self, PipelineError> {
        let group = consumer.get("group.id").unwrap_or_default().to_string();
        let mut probe = consumer.clone();
        probe
            .set("group.id", format!("{group}-watermarks"))
            .set("enable.auto.commit", "false");
        let consumer: StreamConsumer<RebalanceContext> = consumer
            .create_with_context(RebalanceContext::default())
            .map_err(PipelineError::Client)?;
        consumer
            .subscribe(&[topic])
            .map_err(|source| PipelineError::Subscribe {
                topic: topic.into(),
                source,
            })?;
        let dlq = producer.create().map_err(PipelineError::Client)?;
        Ok(Self {
            consumer,
            dlq,
            group,
            topic: topic.into(),
            dlq_topic: dlq_topic.into(),
            policy,
            sink,
            health,
            until_caught_up: false,
            probe,
        })
    }

    /// Drain mode: consume every assigned partition up to its end as of assignment, commit, and
    /// return, instead of following the log. For backfills, tests and benchmarks; meant for a
    /// group of one member (a member without partitions waits for some).
    pub fn until_caught_up(mut self, drain: bool) -> Self {
        self.until_caught_up = drain;
        self
    }

    /// The names of the readiness checks the loop maintains.
    pub const CHECKS: [&'static str; 3] = [KAFKA_CHECK, SINK_CHECK, OFFSETS_CHECK];

    /// Runs until `shutdown` is cancelled (or, in drain mode, until caught up), then commits
    /// what is buffered (if the sink lets it within a few retries) and returns. Fails only in
    /// drain mode, when partitions could not be read because their stored offsets lie past the
    /// end of the log.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), PipelineError> {
        tokio::spawn(crate::watch_brokers(
            self.dlq.clone(),
            self.topic.clone(),
            self.health.clone(),
            KAFKA_CHECK,
            shutdown.clone(),
        ));
        let mut positions = Positions::default();
        let mut batch = Batch::new(&self.topic);
        let mut assignment = Assignment::default();
        let mut outcome = Ok(());
        tracing::info!(group = %self.group, topic = %self.topic, drain = self.until_caught_up, "consuming");
        loop {
            let deadline = batch.deadline(&self.policy);
            // Rebalance callbacks run inside `recv`, which does not return on an idle partition:
            // wake up on a tick to act on new assignments and retry refused seeks.
            let tick = Instant::now() + TICK;
            let wake = deadline.map_or(tick, |deadline| deadline.min(tick));
            let received = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                received = recv_until(&self.consumer, wake) => received,
            };
            if self.consumer.context().rebalanced.swap(false, Ordering::SeqCst) {
                if !batch.is_empty() {
                    tracing::info!(
                        records = batch.len(),
                        "rebalance: dropping the uncommitted batch"
                    );
                }
                batch.clear();
                self.sink.discard();
                positions.reset();
                assignment = Assignment::new(self.consumer.context().take_assigned());
                self.sink.assigned(&self.topic, &assignment.partitions).await;
                self.health.set_ok(OFFSETS_CHECK);
            }
            if !assignment.unsought.is_empty() {
                self.seek_assigned(&mut positions, &mut assignment, &shutdown)
                    .await;
            }
            if !assignment.unverified.is_empty() {
                self.verify_ends(&mut assignment, &positions).await;
            }
            match received {
                None => {}
                Some(Ok(message)) => {
                    self.health.set_ok(KAFKA_CHECK);
                    self.admit(message, &mut positions, &mut batch, &shutdown).await;
                }
                Some(Err(error)) => {
                    self.health.set_failed(KAFKA_CHECK, &error);
                    tracing::warn!(%error, "Kafka consumer error; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            let due = deadline.is_some_and(|deadline| Instant::now() >= deadline);
            if batch.is_full(&self.policy) || (due && !batch.is_empty()) {
                self.flush(&mut batch, &shutdown).await;
            }
            if self.until_caught_up && assignment.caught_up(&positions) {
                if !batch.is_empty() {
                    self.flush(&mut batch, &shutdown).await;
                }
                tracing::info!(partitions = ?assignment.partitions, "caught up with the end of every assigned partition");
                self.warn_if_partial(&assignment.partitions);
                if !assignment.past_end.is_empty() {
                    outcome = Err(PipelineError::PastEnd {
                        partitions: assignment.past_end.iter().copied().collect(),
                    });
                }
                break;
            }
        }
        if !batch.is_empty() {
            tracing::info!(
                records = batch.len(),
                "shutting down: committing the last batch"
            );
            let grace = CancellationToken::new();
            let timer = grace.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                timer.cancel();
            });
            self.flush(&mut batch, &grace).await;
        }
        tracing::info!(group = %self.group, "consumer stopped");
        close_within(self.consumer, CLOSE_TIMEOUT, &self.group).await;
        outcome
    }

    async fn admit(
        &mut self,
        message: OwnedMessage,
        positions: &mut Positions,
        batch: &mut Batch,
        shutdown: &CancellationToken,
    ) {
        let (partition, offset) = (message.partition(), message.offset());
        let mut admission = positions.admit(partition, offset);
        if admission == Admission::Lookup {
            let Some(stored) = self.stored_offset(partition, shutdown).await else {
                return;
            };
            positions.resolve(partition, stored);
            admission = positions.admit(partition, offset);
        }
        match admission {
            Admission::Lookup | Admission::Skip => {}
            Admission::Seek(target) => {
                tracing::info!(partition, offset, target = ?target, "seeking the partition (to the sink's stored position, or back below it)");
                if let Err(error) =
                    self.consumer
                        .seek(&self.topic, partition, target, Duration::from_secs(10))
                {
                    tracing::warn!(partition, %error, "seek failed; will look the partition up again");
                    positions.forget(partition);
                }
            }
            Admission::Accept => {
                metrics::counter!(names::CONSUMER_MESSAGES_TOTAL, "group" => self.group.clone()).increment(1);
                let payload = message.payload().unwrap_or_default();
                match serde_json::from_slice::<EnrichedEvent>(payload) {
                    // PostgreSQL refuses it: the warehouse's batch would fail forever.
                    Ok(_) if lakehouse_event::payload_holds_nul(payload) => {
                        self.dead_letter(&message, "the event holds a NUL character (U+0000)", shutdown)
                            .await;
                        batch.cover(partition, offset);
                    }
                    Ok(event) => {
                        let record = Record {
                            event,
                            partition,
                            offset,
                        };
                        match self.sink.offer(record).await {
                            Offered::Declined(record) => batch.push(record, payload.len()),
                            Offered::Kept { held_bytes } => batch.keep(partition, offset, held_bytes),
                        }
                    }
                    Err(error) => {
                        self.dead_letter(&message, &error.to_string(), shutdown).await;
                        batch.cover(partition, offset);
                    }
                }
            }
        }
    }

    /// Seeks newly assigned partitions to the sink's stored position, so that a sink behind
    /// Kafka's committed offset (restored from a backup, say) is refilled even if no new message
    /// ever arrives. A seek librdkafka refuses (the partition is not fetching yet) stays pending.
    async fn seek_assigned(
        &mut self,
        positions: &mut Positions,
        assignment: &mut Assignment,
        shutdown: &CancellationToken,
    ) {
        for partition in assignment.unsought.clone() {
            if positions.is_known(partition) {
                // A message of it arrived first and the message path positioned it.
                assignment.unsought.remove(&partition);
                assignment.unverified.insert(partition);
                continue;
            }
            let stored = match assignment.stored.get(&partition) {
                Some(&stored) => stored,
                None => {
                    let Some(stored) = self.stored_offset(partition, shutdown).await else {
                        return;
                    };
                    assignment.stored.insert(partition, stored);
                    stored
                }
            };
            let target = stored.map_or(Offset::Beginning, Offset::Offset);
            match self
                .consumer
                .seek(&self.topic, partition, target, Duration::from_secs(5))
            {
                Ok(()) => {
                    tracing::info!(partition, target = ?target, "assigned partition sought to the sink's stored position");
                    positions.sought(partition, stored);
                    assignment.unsought.remove(&partition);
                    assignment.unverified.insert(partition);
                }
                Err(error) => tracing::debug!(partition, %error, "seek not possible yet; retrying"),
            }
        }
    }

    /// A partition's watermarks from a fetch of a client of its own (nothing cached), within a
    /// few seconds; `None` when the broker does not answer in time.
    async fn fresh_watermarks(&self, partition: i32) -> Option<(i64, i64)> {
        let (config, topic) = (self.probe.clone(), self.topic.clone());
        let probe = move || {
            fetched_watermarks(&config, &topic, &[partition], Duration::from_secs(3))
                .and_then(|marks| marks.get(&partition).copied())
        };
        tokio::task::spawn_blocking(probe).await.ok().flatten()
    }

    /// Checks each positioned partition's read position against the end of its log, once the first
    /// fetch has told librdkafka the watermarks. (The fetch's high watermark, not a ListOffsets
    /// request: tansu 0.6 answers ListOffsets(latest) with the last batch's base offset + 1.)
    ///
    /// A stored position past the end of the log (the topic was recreated, or the broker lost
    /// data) would make the loop skip every new message below it, silently: such a partition is
    /// paused instead, with an error log and a failing readiness check, until its stored offset
    /// is reset. Messages it skipped meanwhile are below the stored offset, so they are read
    /// after the reset.
    async fn verify_ends(&mut self, assignment: &mut Assignment, positions: &Positions) {
        for partition in assignment.unverified.clone() {
            let Some((low, high)) = cached_watermarks(self.consumer.client(), &self.topic, partition) else {
                continue;
            };
            if high < 0 {
                continue; // no fetch answered yet
            }
            // The position is the stored offset, or past it by what was read since (never past
            // the log's end); unknown while reading from the beginning, which cannot be past it.
            let past = positions.next(partition).filter(|&next| next > high);
            let (low, high, past) = match past {
                None => (low, high, None),
                // librdkafka keeps a partition's watermarks across assignments: after a rebalance
                // they may come from a fetch before another member read the partition further
                // (the scenario test found a partition paused so). A client of its own, with
                // nothing cached, asks the broker before anything is paused.
                Some(position) => match self.fresh_watermarks(partition).await {
                    Some((low, fresh)) => {
                        if position <= fresh {
                            tracing::info!(
                                partition,
                                position,
                                cached_end = high,
                                log_end = fresh,
                                "watermarks cached before this assignment were stale; the broker's are current"
                            );
                        }
                        (low, fresh, Some(position).filter(|&next| next > fresh))
                    }
                    None => continue, // the broker did not answer: ask again on the next tick
                },
            };
            assignment.unverified.remove(&partition);
            assignment.ends.insert(partition, (low, high));
            let Some(position) = past else {
                continue;
            };
            tracing::error!(partition, stored_offset = position, log_end = high, group = %self.group,
                "the sink's stored offset is past the end of the partition (was the topic recreated?); \
                 the partition is paused so that nothing is skipped: reset the sink's offsets for it");
            self.health.set_failed(
                OFFSETS_CHECK,
                format!("partition {partition}: stored offset {position} is past the log end {high}"),
            );
            let mut paused = TopicPartitionList::new();
            paused.add_partition(&self.topic, partition);
            if let Err(error) = self.consumer.pause(&paused) {
                tracing::error!(partition, %error, "cannot pause the partition");
            }
            assignment.past_end.insert(partition);
        }
    }

    /// A drain covers only the partitions the group gave it: other members hold the rest, or
    /// members that died and whose sessions have not ended yet. Says so, since whoever runs a
    /// drain usually means the whole topic. (A metadata request at the end of a drain: blocking
    /// for a moment is fine there.)
    fn warn_if_partial(&self, assigned: &BTreeSet<i32>) {
        let Ok(metadata) = self
            .consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(5))
        else {
            return;
        };
        let all: BTreeSet<i32> = metadata
            .topics()
            .iter()
            .flat_map(|topic| topic.partitions().iter().map(|p| p.id()))
            .collect();
        let missing: Vec<i32> = all.difference(assigned).copied().collect();
        if !missing.is_empty() {
            tracing::warn!(group = %self.group, missing = ?missing,
                "the drain covered only the partitions assigned to it; the others belong to other members \
                 of the group, or to members that died and whose sessions have not ended yet");
        }
    }

    /// Asks the sink for its position, retrying until it answers or shutdown.
    async fn stored_offset(&mut self, partition: i32, shutdown: &CancellationToken) -> Option<Option<i64>> {
        let mut backoff = backoff();
        loop {
            match self.sink.stored_offset(&self.topic, partition).await {
                Ok(stored) => {
                    self.health.set_ok(SINK_CHECK);
                    return Some(stored);
                }
                Err(error) => {
                    self.health.set_failed(SINK_CHECK, &error);
                    tracing::error!(partition, error = %error, retry_in_ms = backoff.peek().as_millis() as u64,
                        "cannot read the stored offset from the sink; retrying");
                }
            }
            if !backoff.wait(shutdown).await {
                return None;
            }
        }
    }

    /// Sends an undecodable message to the dead-letter topic with the error and its origin in
    /// headers; retries until Kafka takes it, because its offset is committed after this.
    async fn dead_letter(&self, message: &OwnedMessage, error: &str, shutdown: &CancellationToken) {
        let (partition, offset) = (message.partition(), message.offset());
        tracing::warn!(partition, offset, error, dlq = %self.dlq_topic, "undecodable message sent to the dead-letter topic");
        let partition_text = partition.to_string();
        let offset_text = offset.to_string();
        let mut backoff = backoff();
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "error",
                    value: Some(error),
                })
                .insert(Header {
                    key: "source_topic",
                    value: Some(self.topic.as_str()),
                })
                .insert(Header {
                    key: "source_partition",
                    value: Some(partition_text.as_str()),
                })
                .insert(Header {
                    key: "source_offset",
                    value: Some(offset_text.as_str()),
                });
            let mut record = FutureRecord::to(&self.dlq_topic)
                .payload(message.payload().unwrap_or_default())
                .headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            match self.dlq.send(record, Duration::from_secs(5)).await {
                Ok(_) => {
                    metrics::counter!(names::DLQ_MESSAGES_TOTAL, "group" => self.group.clone()).increment(1);
                    return;
                }
                Err((error, _)) => {
                    tracing::error!(%error, dlq = %self.dlq_topic, "cannot write to the dead-letter topic; retrying")
                }
            }
            if !backoff.wait(shutdown).await {
                return;
            }
        }
    }

    /// Commits the batch to the sink, retrying with backoff until it succeeds or `cancel` fires;
    /// then lets Kafka know, for lag monitoring only.
    async fn flush(&mut self, batch: &mut Batch, cancel: &CancellationToken) {
        let mut backoff = backoff();
        loop {
            let started = Instant::now();
            match self.sink.write(batch).await {
                Ok(()) => {
                    self.health.set_ok(SINK_CHECK);
                    let labels = [("group", self.group.clone())];
                    metrics::counter!(names::SINK_COMMITS_TOTAL, &labels).increment(1);
                    metrics::histogram!(names::SINK_COMMIT_SECONDS, &labels).record(started.elapsed());
                    metrics::histogram!(names::SINK_BATCH_ROWS, &labels).record(batch.len() as f64);
                    tracing::debug!(records = batch.len(), offsets = ?batch.next_offsets, "batch committed");
                    break;
                }
                Err(error) => {
                    self.health.set_failed(SINK_CHECK, &error);
                    metrics::counter!(names::SINK_ERRORS_TOTAL, "group" => self.group.clone()).increment(1);
                    tracing::error!(error = %error, records = batch.len(),
                        retry_in_ms = backoff.peek().as_millis() as u64, "sink commit failed; retrying");
                }
            }
            if !backoff.wait(cancel).await {
                tracing::warn!(
                    records = batch.len(),
                    "gave up committing at shutdown; the batch will be read again"
                );
                batch.clear();
                self.sink.discard();
                return;
            }
        }
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &batch.next_offsets {
            let _ = offsets.add_partition_offset(&batch.topic, partition, Offset::Offset(next));
        }
        if let Err(error) = self.consumer.commit(&offsets, CommitMode::Async) {
            tracing::debug!(%error, "Kafka offset commit (lag monitoring only) failed");
        }
        batch.clear();
    }
}

/// The next message, or `None` once `deadline` passes.
async fn recv_until(
    consumer: &StreamConsumer<RebalanceContext>,
    deadline: Instant,
) -> Option<Result<OwnedMessage, KafkaError>> {
    let receive = async { consumer.recv().await.map(|message| message.detach()) };
    tokio::time::timeout_at(deadline.into(), receive).await.ok()
}
