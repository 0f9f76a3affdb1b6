//! What a store commits in one atomic step: events read from the log, each with the partition and
//! offset it was read at, and per partition the offset to store with them.

use std::collections::BTreeMap;

use crate::EnrichedEvent;

/// One event read from the log, with where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub event: EnrichedEvent,
    pub partition: i32,
    pub offset: i64,
}

/// The records a store writes in one commit and, per partition, the offset it stores with them:
/// the offset of the next message to read. Offsets of messages that carry no record (sent to the
/// dead-letter topic, or kept by the store as they arrived) move them too, so a store commits
/// them without their records.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub topic: String,
    pub records: Vec<Record>,
    pub next_offsets: BTreeMap<i32, i64>,
}

impl Batch {
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            records: Vec::new(),
            next_offsets: BTreeMap::new(),
        }
    }

    /// Adds a record, and covers its offset.
    pub fn push(&mut self, record: Record) {
        self.cover(record.partition, record.offset);
        self.records.push(record);
    }

    /// Counts the message at `offset` of `partition` as read, without a record.
    pub fn cover(&mut self, partition: i32, offset: i64) {
        let next = self.next_offsets.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// True when no message is covered.
    pub fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    /// Forgets every record and offset.
    pub fn clear(&mut self) {
        self.records.clear();
        self.next_offsets.clear();
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

    #[test]
    fn next_offsets_are_one_past_the_highest_offset_of_each_partition() {
        let mut batch = Batch::new("t");
        batch.push(record(0, 7));
        batch.push(record(1, 3));
        batch.cover(0, 8);
        assert_eq!(batch.next_offsets, BTreeMap::from([(0, 9), (1, 4)]));
        assert_eq!(batch.records.len(), 2);
    }
}
