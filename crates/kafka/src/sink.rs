//! The sink side of the loop: the store that commits a batch and its offsets in one atomic step,
//! and its calls retried with backoff while it is down, its state kept in the `sink` readiness
//! check and in the commit metrics.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lakehouse_event::{Batch, Record};
use lakehouse_telemetry::Health;
use lakehouse_telemetry::metrics as names;
use tokio_util::sync::CancellationToken;

use crate::batch::PendingBatch;
use crate::retry::Backoff;

/// The name of the readiness check the loop maintains for its sink.
pub(crate) const SINK_CHECK: &str = "sink";

/// A store that commits a batch and its offsets in one atomic step.
#[async_trait]
pub trait BatchSink: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// What the sink is (`warehouse` | `lake`): the `sink` label of its freshness metrics.
    const NAME: &'static str;

    /// The offset of the next message the sink expects from `partition`, or `None` when it has
    /// stored nothing of it.
    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, Self::Error>;

    /// Writes the batch's records (those it holds and those [`BatchSink::offer`] kept) and stores
    /// its `next_offsets`, all or nothing. Writing a batch whose offsets are already stored must
    /// change nothing (a retry after an unclear failure). A sink that keeps records forgets them
    /// once they are committed, and keeps them for the next attempt when the write fails.
    async fn write(&mut self, batch: &Batch) -> Result<(), Self::Error>;

    /// Offered each decoded record as the loop admits it into the batch. By default the sink
    /// declines, and the batch holds the record until [`BatchSink::write`]; a sink that encodes
    /// records as they arrive (the lake, into Parquet) keeps what it needs of it instead, so that
    /// nothing is held twice.
    async fn offer(&mut self, _record: &Record) -> Offered {
        Offered::Declined
    }

    /// The batch was dropped without a commit (a rebalance, a rejoin, or a shutdown that could
    /// not commit): forget the records [`BatchSink::offer`] kept. The loop reads them again from
    /// the stored offsets.
    fn discard(&mut self) {}

    /// After each rebalance, before the partitions' stored offsets are asked for: the partitions
    /// of `topic` the member holds now (empty between a revocation and the next assignment). A
    /// sink may prepare them all at once (the lake loads their deduplication windows) and forget
    /// what it kept for the others; [`BatchSink::stored_offset`] must still work without it.
    async fn assigned(&mut self, _topic: &str, _partitions: &BTreeSet<i32>) {}
}

/// What a sink did with a record the loop offered it (see [`BatchSink::offer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// The batch holds the record.
    Declined,
    /// The sink keeps the record; it now holds `held_bytes` for the whole batch, which
    /// `FlushPolicy::max_bytes` is compared with.
    Kept { held_bytes: usize },
}

/// A sink with the loop's retries, readiness check and metrics around it.
pub(crate) struct RetriedSink<S> {
    sink: S,
    topic: String,
    group: String,
    health: Health,
}

impl<S: BatchSink> RetriedSink<S> {
    pub(crate) fn new(sink: S, topic: &str, group: &str, health: Health) -> Self {
        Self {
            sink,
            topic: topic.into(),
            group: group.into(),
            health,
        }
    }

    /// Offers a decoded record to the sink and puts it in the batch, held or counted.
    pub(crate) async fn offer(&mut self, batch: &mut PendingBatch, record: Record, payload_bytes: usize) {
        match self.sink.offer(&record).await {
            Offered::Declined => batch.push(record, payload_bytes),
            Offered::Kept { held_bytes } => {
                batch.keep(
                    record.partition,
                    record.offset,
                    record.event.received_at,
                    held_bytes,
                );
            }
        }
    }

    /// The uncommitted batch was dropped: the sink forgets what it kept of it.
    pub(crate) fn discard(&mut self) {
        self.sink.discard();
    }

    /// The member holds `partitions` now (after a rebalance).
    pub(crate) async fn assigned(&mut self, partitions: &BTreeSet<i32>) {
        self.sink.assigned(&self.topic, partitions).await;
    }

    /// Asks the sink for its position, retrying until it answers (`None`: `shutdown` came first).
    pub(crate) async fn stored_offset(
        &mut self,
        partition: i32,
        shutdown: &CancellationToken,
    ) -> Option<Option<i64>> {
        let health = &self.health;
        let mut failed = |error: &S::Error, wait: Duration| {
            health.set_failed(SINK_CHECK, error);
            tracing::error!(partition, error = %error, retry_in_ms = wait.as_millis() as u64,
                "cannot read the stored offset from the sink; retrying");
        };
        let mut backoff = Backoff::consume();
        let stored = loop {
            match self.sink.stored_offset(&self.topic, partition).await {
                Ok(stored) => break stored,
                Err(error) => {
                    if !backoff.after_failure(&error, shutdown, &mut failed).await {
                        return None;
                    }
                }
            }
        };
        health.set_ok(SINK_CHECK);
        Some(stored)
    }

    /// Commits the batch to the sink, retrying with backoff until it succeeds (true) or `cancel`
    /// fires (false).
    pub(crate) async fn commit(&mut self, batch: &PendingBatch, cancel: &CancellationToken) -> bool {
        let (group, health) = (&self.group, &self.health);
        let mut failed = |error: &S::Error, wait: Duration| {
            health.set_failed(SINK_CHECK, error);
            metrics::counter!(names::SINK_ERRORS_TOTAL, "group" => group.clone()).increment(1);
            tracing::error!(error = %error, records = batch.len(),
                retry_in_ms = wait.as_millis() as u64, "sink commit failed; retrying");
        };
        let mut backoff = Backoff::consume();
        let took = loop {
            let started = Instant::now();
            match self.sink.write(batch.batch()).await {
                Ok(()) => break started.elapsed(),
                Err(error) => {
                    if !backoff.after_failure(&error, cancel, &mut failed).await {
                        return false;
                    }
                }
            }
        };
        health.set_ok(SINK_CHECK);
        let labels = [("group", group.clone())];
        metrics::counter!(names::SINK_COMMITS_TOTAL, &labels).increment(1);
        metrics::histogram!(names::SINK_COMMIT_SECONDS, &labels).record(took);
        metrics::histogram!(names::SINK_BATCH_ROWS, &labels).record(batch.len() as f64);
        tracing::debug!(records = batch.len(), offsets = ?batch.next_offsets(), "batch committed");
        true
    }
}
