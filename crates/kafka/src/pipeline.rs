//! The consume loop shared by the sinks: read, check each message against the sink's stored
//! position, decode (poison messages go to the dead-letter topic), batch, and hand each batch to the
//! sink, which commits its records and offsets atomically. A failed commit is retried with backoff
//! for as long as it takes; nothing is dropped and nothing is written twice. Kafka's own commits
//! follow only to feed lag monitoring.

use std::time::{Duration, Instant};

use lakehouse_event::Record;
use lakehouse_telemetry::Health;
use lakehouse_telemetry::metrics as names;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message};
use tokio_util::sync::CancellationToken;

use crate::assignment::{Assignment, Broker};
use crate::batch::{FlushPolicy, PendingBatch};
use crate::decode::{Refused, decode};
use crate::dlq::DeadLetters;
use crate::freshness::Freshness;
use crate::member::GroupMember;
use crate::position::{Admission, Positions};
use crate::readiness::{KAFKA_CHECK, OFFSETS_CHECK, PARTITIONS_CHECK, SCHEMA_CHECK};
use crate::sink::{BatchSink, RetriedSink};
use crate::watchdog::{Probe, Stall, Watchdog};
use tokio::task::JoinHandle;

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
    #[error("cannot join the consumer group again: {0}")]
    Rejoin(#[source] KafkaError),
    #[error(
        "the sink's stored offsets of partitions {partitions:?} are past the end of the log (was the topic recreated?); reset them"
    )]
    PastEnd { partitions: Vec<i32> },
    #[error(
        "partitions {partitions:?} hold events of a contract version this build does not know; upgrade it to read them"
    )]
    NewerContract { partitions: Vec<i32> },
}

/// One consumer group member feeding one sink.
pub struct Pipeline<S: BatchSink> {
    member: GroupMember,
    /// The consumer's configuration, for a new consumer when the watchdog rejoins.
    consumer_config: ClientConfig,
    session_timeout: Duration,
    dlq: DeadLetters,
    group: String,
    topic: String,
    policy: FlushPolicy,
    sink: RetriedSink<S>,
    health: Health,
    until_caught_up: bool,
    freshness: Freshness,
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

/// How often the loop wakes up without a message.
const TICK: Duration = Duration::from_millis(500);

/// How long the last batch may take to commit at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What the watchdog allows beyond the session timeout before it rejoins: time for the group to
/// notice a dead member and rebalance.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(4);

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
        let member = GroupMember::new(consumer, topic).map_err(PipelineError::Client)?;
        member.subscribe().map_err(|source| PipelineError::Subscribe {
            topic: topic.into(),
            source,
        })?;
        let dlq = producer.create().map_err(PipelineError::Client)?;
        Ok(Self {
            member,
            consumer_config: consumer.clone(),
            session_timeout: GroupMember::session_timeout(consumer),
            dlq: DeadLetters::new(dlq, topic, dlq_topic, &group),
            sink: RetriedSink::new(sink, topic, &group, health.clone()),
            freshness: Freshness::new(&group, S::NAME),
            group,
            topic: topic.into(),
            policy,
            health,
            until_caught_up: false,
        })
    }

    /// Drain mode: consume every assigned partition up to its end as of assignment, commit, and
    /// return, instead of following the log. For backfills, tests and benchmarks; meant for a
    /// group of one member (a member without partitions waits for some).
    pub fn until_caught_up(mut self, drain: bool) -> Self {
        self.until_caught_up = drain;
        self
    }

    /// Runs until `shutdown` is cancelled (or, in drain mode, until caught up), then commits
    /// what is buffered (if the sink lets it within a few retries) and returns. Fails only in
    /// drain mode, when partitions could not be read because their stored offsets lie past the
    /// end of the log.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), PipelineError> {
        tokio::spawn(crate::readiness::watch_brokers(
            self.dlq.producer().clone(),
            self.topic.clone(),
            self.health.clone(),
            KAFKA_CHECK,
            shutdown.clone(),
        ));
        let mut positions = Positions::default();
        let mut batch = PendingBatch::new(&self.topic);
        let mut assignment = Assignment::default();
        let mut outcome = Ok(());
        let mut watchdog = Watchdog::new(
            self.session_timeout,
            WATCHDOG_MARGIN,
            self.policy.max_age,
            Instant::now(),
        );
        let mut probing = None;
        self.health.set_ok(PARTITIONS_CHECK);
        self.health.set_ok(SCHEMA_CHECK);
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
                received = self.member.recv_until(wake) => received,
            };
            if self.member.rebalances().take_rebalanced() {
                self.drop_batch("rebalance", &mut batch, &mut positions);
                assignment = Assignment::new(self.member.rebalances().take_assigned());
                self.sink.assigned(&assignment.partitions).await;
                self.health.set_ok(OFFSETS_CHECK);
                self.health.set_ok(SCHEMA_CHECK);
                watchdog.assigned(&assignment.partitions, Instant::now());
                self.report_idle(&watchdog);
            }
            if assignment.is_settling() {
                self.settle(&mut assignment, &mut positions, &shutdown).await;
            }
            match received {
                None => {}
                Some(Ok(message)) => {
                    self.health.set_ok(KAFKA_CHECK);
                    watchdog.heard(message.partition(), Instant::now());
                    self.admit(message, &mut positions, &mut batch, &mut assignment, &shutdown)
                        .await;
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
            let member = &self.member;
            self.freshness.report(
                &assignment.partitions,
                |partition| positions.next(partition),
                |partition| {
                    member
                        .cached_watermarks(partition)
                        .map(|(_, high)| high)
                        .filter(|&high| high >= 0)
                },
                &batch,
                chrono::Utc::now(),
            );
            if self.until_caught_up && assignment.caught_up(&positions) {
                if !batch.is_empty() {
                    self.flush(&mut batch, &shutdown).await;
                }
                outcome = self.drained(&assignment);
                break;
            }
            if let Some(stall) = self.watch(&mut watchdog, &mut probing, &assignment).await {
                tracing::warn!(group = %self.group, reason = stall.reason(), limit_secs = watchdog.limit().as_secs(),
                    "{stall}: leaving the group and joining again as a new member");
                metrics::counter!(names::CONSUMER_REJOINS_TOTAL, "group" => self.group.clone(), "reason" => stall.reason())
                    .increment(1);
                self.drop_batch("rejoining", &mut batch, &mut positions);
                assignment = Assignment::default();
                self.health.set_ok(SCHEMA_CHECK);
                watchdog.left(Instant::now());
                if let Err(source) = self
                    .member
                    .rejoin(&self.consumer_config, CLOSE_TIMEOUT, &self.group)
                    .await
                {
                    outcome = Err(PipelineError::Rejoin(source));
                    break;
                }
            }
        }
        if !batch.is_empty() {
            tracing::info!(records = batch.len(), "shutting down: committing the last batch");
            let grace = CancellationToken::new();
            let timer = grace.clone();
            tokio::spawn(async move {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                timer.cancel();
            });
            self.flush(&mut batch, &grace).await;
        }
        tracing::info!(group = %self.group, "consumer stopped");
        self.member.close_within(CLOSE_TIMEOUT, &self.group).await;
        outcome
    }

    /// Steps the watchdog: starts a probe of the broker when one is due (on a task of its own, so
    /// that the loop goes on meanwhile) and judges its answer on a later tick; a stall when the
    /// member should leave the group and join again.
    async fn watch(
        &self,
        watchdog: &mut Watchdog,
        probing: &mut Option<JoinHandle<Option<Probe>>>,
        assignment: &Assignment,
    ) -> Option<Stall> {
        let due = watchdog.probe_due(Instant::now());
        match probing.take() {
            Some(task) if task.is_finished() => {
                let probe = task.await.ok().flatten()?;
                let stall = watchdog.judge(Instant::now(), probe, &assignment.paused());
                self.report_idle(watchdog);
                stall
            }
            Some(task) => {
                *probing = Some(task);
                None
            }
            None => {
                if due {
                    *probing = Some(self.member.probe(&self.group));
                }
                None
            }
        }
    }

    /// Keeps the `partitions` check in line with the watchdog's view.
    fn report_idle(&self, watchdog: &Watchdog) {
        if watchdog.is_idle_while_needed() {
            self.health.set_failed(
                PARTITIONS_CHECK,
                "this member holds no partition while partitions of the group grow unread",
            );
        } else {
            self.health.set_ok(PARTITIONS_CHECK);
        }
    }

    /// Seeks newly assigned partitions to the sink's position and checks positioned ones against
    /// the end of their logs; a partition found past the end fails the `offsets` check.
    async fn settle(
        &mut self,
        assignment: &mut Assignment,
        positions: &mut Positions,
        shutdown: &CancellationToken,
    ) {
        for partition in assignment.unlooked(positions) {
            let Some(stored) = self.sink.stored_offset(partition, shutdown).await else {
                return; // shutting down
            };
            assignment.stored(partition, stored);
        }
        assignment.seek_unsought(positions, &self.member);
        for past in assignment.verify_ends(positions, &self.member).await {
            tracing::error!(partition = past.partition, stored_offset = past.position, log_end = past.log_end, group = %self.group,
                "the sink's stored offset is past the end of the partition (was the topic recreated?); \
                 the partition is paused so that nothing is skipped: reset the sink's offsets for it");
            self.health.set_failed(
                OFFSETS_CHECK,
                format!(
                    "partition {}: stored offset {} is past the log end {}",
                    past.partition, past.position, past.log_end
                ),
            );
        }
    }

    async fn admit(
        &mut self,
        message: OwnedMessage,
        positions: &mut Positions,
        batch: &mut PendingBatch,
        assignment: &mut Assignment,
        shutdown: &CancellationToken,
    ) {
        let (partition, offset) = (message.partition(), message.offset());
        if assignment.newer.contains_key(&partition) {
            return; // fetched before the partition was paused
        }
        let mut admission = positions.admit(partition, offset);
        if admission == Admission::Lookup {
            let Some(stored) = self.sink.stored_offset(partition, shutdown).await else {
                return;
            };
            positions.resolve(partition, stored);
            admission = positions.admit(partition, offset);
        }
        match admission {
            Admission::Lookup | Admission::Skip => {}
            Admission::Seek(target) => {
                tracing::info!(partition, offset, target = ?target, "seeking the partition (to the sink's stored position, or back below it)");
                if let Err(error) = self.member.seek_to(partition, target) {
                    tracing::warn!(partition, %error, "seek failed; will look the partition up again");
                    positions.forget(partition);
                }
            }
            Admission::Accept => {
                metrics::counter!(names::CONSUMER_MESSAGES_TOTAL, "group" => self.group.clone()).increment(1);
                let payload = message.payload().unwrap_or_default();
                match decode(payload) {
                    Ok(event) => {
                        let record = Record {
                            event,
                            partition,
                            offset,
                        };
                        self.sink.offer(batch, record, payload.len()).await;
                    }
                    Err(Refused::Newer(version)) => self.hold_newer(partition, offset, version, assignment),
                    Err(Refused::Poison(reason)) => {
                        self.dlq.send(&message, &reason, shutdown).await;
                        batch.cover(partition, offset);
                    }
                }
            }
        }
    }

    /// Stops reading `partition` at `offset`, an event of contract `version` this code does not
    /// know: storing it would drop the fields it cannot see, and skipping it would lose it. The
    /// records before it are committed as usual; the partition stays paused, `/ready` fails, and
    /// its lag grows (the alerts fire) until a member that knows the version reads it.
    fn hold_newer(&self, partition: i32, offset: i64, version: u16, assignment: &mut Assignment) {
        if !assignment.hold_newer(partition, offset, version, &self.member) {
            return;
        }
        tracing::error!(partition, offset, schema_version = version, known = lakehouse_event::SCHEMA_VERSION, group = %self.group,
            "an event of a contract version this build does not know: the partition is paused here, nothing is \
             skipped or stored without its fields; deploy the sink version that knows it");
        self.health.set_failed(SCHEMA_CHECK, assignment.held_newer());
    }

    /// The end of a drain: an error when partitions could not be read to their end. A drain
    /// covers only the partitions the group gave it (other members hold the rest, or members that
    /// died and whose sessions have not ended yet): says so, since whoever runs a drain usually
    /// means the whole topic. (A metadata request: blocking for a moment is fine there.)
    fn drained(&self, assignment: &Assignment) -> Result<(), PipelineError> {
        tracing::info!(partitions = ?assignment.partitions, "caught up with the end of every assigned partition");
        if let Some(all) = self.member.topic_partitions(Duration::from_secs(5)) {
            let missing: Vec<i32> = all.difference(&assignment.partitions).copied().collect();
            if !missing.is_empty() {
                tracing::warn!(group = %self.group, missing = ?missing,
                    "the drain covered only the partitions assigned to it; the others belong to other members \
                     of the group, or to members that died and whose sessions have not ended yet");
            }
        }
        if !assignment.past_end.is_empty() {
            return Err(PipelineError::PastEnd {
                partitions: assignment.past_end.iter().copied().collect(),
            });
        }
        if !assignment.newer.is_empty() {
            return Err(PipelineError::NewerContract {
                partitions: assignment.newer.keys().copied().collect(),
            });
        }
        Ok(())
    }

    /// Drops the uncommitted batch (after a `why`: a rebalance or a rejoin): the sink forgets what
    /// it kept of it, and every partition's position is looked up again from the sink.
    fn drop_batch(&mut self, why: &str, batch: &mut PendingBatch, positions: &mut Positions) {
        if !batch.is_empty() {
            tracing::info!(records = batch.len(), "{why}: dropping the uncommitted batch");
        }
        batch.clear();
        self.sink.discard();
        positions.reset();
    }

    /// Commits the batch to the sink, retrying with backoff until it succeeds or `cancel` fires;
    /// then lets Kafka know, for lag monitoring only.
    async fn flush(&mut self, batch: &mut PendingBatch, cancel: &CancellationToken) {
        if self.sink.commit(batch, cancel).await {
            self.freshness.committed(batch, chrono::Utc::now());
            self.member.commit_for_lag(batch.next_offsets());
        } else {
            tracing::warn!(
                records = batch.len(),
                "gave up committing at shutdown; the batch will be read again"
            );
            self.sink.discard();
        }
        batch.clear();
    }
}
