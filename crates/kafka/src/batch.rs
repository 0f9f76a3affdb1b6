//! A batch of consumed events with the offsets it covers, and when it is due to be flushed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lakehouse_event::EnrichedEvent;

/// One decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub event: EnrichedEvent,
    pub partition: i32,
    pub offset: i64,
}

/// When a batch is flushed: whichever limit is passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

/// The events read since the last commit and, per partition, the offset to store with them: the
/// offset of the next message to read. Messages sent to the dead-letter topic move the offsets
/// too, so a poison message is not read again after its neighbours were committed.
#[derive(Debug, Clone)]
pub struct Batch {
    pub topic: String,
    pub records: Vec<Record>,
    pub next_offsets: BTreeMap<i32, i64>,
    pub bytes: usize,
    started: Option<Instant>,
}

impl Batch {
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            records: Vec::new(),
            next_offsets: BTreeMap::new(),
            bytes: 0,
            started: None,
        }
    }

    /// Adds a decoded message of `bytes` bytes.
    pub fn push(&mut self, record: Record, bytes: usize) {
        self.cover(record.partition, record.offset);
        self.bytes += bytes;
        self.records.push(record);
    }

    /// Counts a message as consumed without a record (it went to the dead-letter topic).
    pub fn cover(&mut self, partition: i32, offset: i64) {
        self.started.get_or_insert_with(Instant::now);
        let next = self.next_offsets.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// True when nothing was consumed since the last flush.
    pub fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    /// True when a size limit is reached.
    pub fn is_full(&self, policy: &FlushPolicy) -> bool {
        self.records.len() >= policy.max_records || self.bytes >= policy.max_bytes
    }

    /// When the batch must be flushed whatever its size; `None` while it is empty.
    pub fn deadline(&self, policy: &FlushPolicy) -> Option<Instant> {
        self.started.map(|started| started + policy.max_age)
    }

    /// Empties the batch after a commit, or drops it after a rebalance.
    pub fn clear(&mut self) {
        self.records.clear();
        self.next_offsets.clear();
        self.bytes = 0;
        self.started = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

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
    fn next_offsets_are_one_past_the_highest_offset_of_each_partition() {
        let mut batch = Batch::new("t");
        batch.push(record(0, 7), 10);
        batch.push(record(1, 3), 10);
        batch.cover(0, 8);
        assert_eq!(batch.next_offsets, BTreeMap::from([(0, 9), (1, 4)]));
        assert_eq!(batch.records.len(), 2);
    }

    #[test]
    fn full_by_records_or_by_bytes() {
        let mut batch = Batch::new("t");
        batch.push(record(0, 0), 10);
        batch.push(record(0, 1), 10);
        assert!(!batch.is_full(&POLICY));
        batch.push(record(0, 2), 10);
        assert!(batch.is_full(&POLICY));

        let mut batch = Batch::new("t");
        batch.push(record(0, 0), 1000);
        assert!(batch.is_full(&POLICY));
    }

    #[test]
    fn the_deadline_starts_with_the_first_message_and_ends_with_clear() {
        let mut batch = Batch::new("t");
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
