//! The batch the consume loop collects for its sink, and when it is due to be flushed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lakehouse_event::{Batch, Record};

/// When a batch is flushed: whichever limit is passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

/// The events read since the last commit: the [`Batch`] the sink is handed, and what the loop
/// counts of it to know when it is due. Messages sent to the dead-letter topic move the batch's
/// offsets too, so a poison message is not read again after its neighbours were committed.
///
/// The batch holds the records itself, or only counts them when the sink keeps them as they
/// arrive (see [`crate::BatchSink::offer`]): then the batch's `records` stay empty, only each
/// kept record's partition and arrival is kept here (16 bytes, for the freshness metrics; they
/// count towards `max_bytes` too), and `held_bytes` is what the sink says it holds for the batch.
#[derive(Debug, Clone)]
pub(crate) struct PendingBatch {
    batch: Batch,
    /// The payload bytes of the batch's records.
    bytes: usize,
    /// The partition and arrival (`received_at`) of each record the sink keeps itself.
    kept: Vec<(i32, DateTime<Utc>)>,
    /// What the sink holds for the batch, by its own count.
    held_bytes: usize,
    started: Option<Instant>,
}

impl PendingBatch {
    pub(crate) fn new(topic: impl Into<String>) -> Self {
        Self {
            batch: Batch::new(topic),
            bytes: 0,
            kept: Vec::new(),
            held_bytes: 0,
            started: None,
        }
    }

    /// What the sink commits.
    pub(crate) fn batch(&self) -> &Batch {
        &self.batch
    }

    /// Per partition, the offset of the next message to read.
    pub(crate) fn next_offsets(&self) -> &BTreeMap<i32, i64> {
        &self.batch.next_offsets
    }

    /// Adds a decoded message of `bytes` bytes.
    pub(crate) fn push(&mut self, record: Record, bytes: usize) {
        self.started.get_or_insert_with(Instant::now);
        self.bytes += bytes;
        self.batch.push(record);
    }

    /// Counts a decoded message, which arrived at `received_at`, whose record the sink keeps
    /// itself; `held_bytes` is what the sink holds for the whole batch now.
    pub(crate) fn keep(
        &mut self,
        partition: i32,
        offset: i64,
        received_at: DateTime<Utc>,
        held_bytes: usize,
    ) {
        self.cover(partition, offset);
        self.kept.push((partition, received_at));
        self.held_bytes = held_bytes;
    }

    /// The partition and arrival of every record consumed since the last flush, held or kept.
    pub(crate) fn arrivals(&self) -> impl Iterator<Item = (i32, DateTime<Utc>)> + '_ {
        self.batch
            .records
            .iter()
            .map(|record| (record.partition, record.event.received_at))
            .chain(self.kept.iter().copied())
    }

    /// Counts a message as consumed without a record (it went to the dead-letter topic).
    pub(crate) fn cover(&mut self, partition: i32, offset: i64) {
        self.started.get_or_insert_with(Instant::now);
        self.batch.cover(partition, offset);
    }

    /// True when nothing was consumed since the last flush.
    pub(crate) fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The records consumed since the last flush, held by the batch or kept by the sink.
    pub(crate) fn len(&self) -> usize {
        self.batch.records.len() + self.kept.len()
    }

    /// True when a size limit is reached.
    pub(crate) fn is_full(&self, policy: &FlushPolicy) -> bool {
        self.len() >= policy.max_records
            || self.bytes + self.held_bytes + self.kept_bytes() >= policy.max_bytes
    }

    /// The memory the partitions and arrivals of kept records take (as allocated).
    fn kept_bytes(&self) -> usize {
        self.kept.capacity() * std::mem::size_of::<(i32, DateTime<Utc>)>()
    }

    /// When the batch must be flushed whatever its size; `None` while it is empty.
    pub(crate) fn deadline(&self, policy: &FlushPolicy) -> Option<Instant> {
        self.started.map(|started| started + policy.max_age)
    }

    /// Empties the batch after a commit, or drops it after a rebalance.
    pub(crate) fn clear(&mut self) {
        self.batch.clear();
        self.bytes = 0;
        // Released, not kept for the next batch: it counts towards the batch's bytes.
        self.kept = Vec::new();
        self.held_bytes = 0;
        self.started = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use lakehouse_event::EnrichedEvent;

    fn record(partition: i32, offset: i64) -> Record {
        let event: EnrichedEvent = serde_json::from_value(serde_json::json!({
            "event_id": "0193a1f2-7b4c-7d8e-9f00-112233445566",
            "project_id": "p", "event_type": "click", "session_id": "s",
            "timestamp": Utc::now(), "received_at": Utc::now(), "schema_version": 1
        }))
        .unwrap();
        Record {
            event,
            partition,
            offset,
        }
    }

    const POLICY: FlushPolicy = FlushPolicy {
        max_records: 3,
        max_bytes: 1000,
        max_age: Duration::from_secs(60),
    };

    #[test]
    fn full_by_records_or_by_bytes() {
        let mut batch = PendingBatch::new("t");
        batch.push(record(0, 0), 10);
        batch.push(record(0, 1), 10);
        assert!(!batch.is_full(&POLICY));
        batch.push(record(0, 2), 10);
        assert!(batch.is_full(&POLICY));

        let mut batch = PendingBatch::new("t");
        batch.push(record(0, 0), 1000);
        assert!(batch.is_full(&POLICY));
    }

    #[test]
    fn records_the_sink_keeps_are_counted_and_its_bytes_are_what_it_holds() {
        let mut batch = PendingBatch::new("t");
        let (early, late) = (Utc::now() - chrono::Duration::seconds(5), Utc::now());
        batch.keep(0, 4, late, 400);
        batch.keep(1, 9, early, 700);
        assert!(batch.batch().records.is_empty());
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.next_offsets(), &BTreeMap::from([(0, 5), (1, 10)]));
        assert_eq!(batch.arrivals().collect::<Vec<_>>(), vec![(0, late), (1, early)]);
        assert!(!batch.is_full(&POLICY), "700 bytes held, not 1 100");
        batch.keep(1, 10, late, 1000);
        assert!(batch.is_full(&POLICY), "by records and by bytes");
        batch.clear();
        assert_eq!(batch.len(), 0);
        assert_eq!(batch.arrivals().count(), 0);
        let held = record(2, 0);
        let arrived = held.event.received_at;
        batch.push(held, 10);
        batch.keep(0, 5, late, 10);
        assert_eq!(
            batch.arrivals().collect::<Vec<_>>(),
            vec![(2, arrived), (0, late)]
        );
        assert!(!batch.is_full(&POLICY));
    }

    #[test]
    fn the_arrivals_of_kept_records_count_towards_the_bytes() {
        let policy = FlushPolicy {
            max_records: 1000,
            ..POLICY
        };
        let mut batch = PendingBatch::new("t");
        for offset in 0..32 {
            batch.keep(0, offset, Utc::now(), 0);
        }
        assert!(!batch.is_full(&policy), "32 arrivals of 16 bytes: 512 of 1000");
        for offset in 32..64 {
            batch.keep(0, offset, Utc::now(), 0);
        }
        assert!(batch.is_full(&policy), "64 arrivals: 1024 bytes");
    }

    #[test]
    fn the_deadline_starts_with_the_first_message_and_ends_with_clear() {
        let mut batch = PendingBatch::new("t");
        assert_eq!(batch.deadline(&POLICY), None);
        let before = Instant::now();
        batch.cover(0, 0);
        let deadline = batch.deadline(&POLICY).unwrap();
        assert!(deadline >= before + POLICY.max_age);
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.deadline(&POLICY), None);
    }
}
