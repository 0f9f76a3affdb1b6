//! The lake as the sink of the shared consume loop: the events writer behind [`BatchSink`]. The
//! writer keeps each record as it arrives (encoded into the batch's Parquet files), so the loop's
//! batch only counts them.

use std::collections::BTreeSet;

use async_trait::async_trait;
use lakehouse_event::{Batch, Record};
use lakehouse_kafka::{BatchSink, Offered};
use lakehouse_lake::{EventsWriter, LakeError};

/// The events table, written by the consume loop.
#[derive(Debug)]
pub struct LakeSink(pub EventsWriter);

#[async_trait]
impl BatchSink for LakeSink {
    type Error = LakeError;
    const NAME: &'static str = "lake";

    /// Also makes sure the partition's deduplication window is loaded: the loop calls this
    /// whenever the partition is (re)assigned.
    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        self.0.stored_offset(topic, partition).await
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), LakeError> {
        self.0.write(batch).await
    }

    async fn offer(&mut self, record: &Record) -> Offered {
        Offered::Kept {
            held_bytes: self.0.offer(record),
        }
    }

    fn discard(&mut self) {
        self.0.discard();
    }

    async fn assigned(&mut self, topic: &str, partitions: &BTreeSet<i32>) {
        if let Err(error) = self.0.assigned(topic, partitions).await {
            tracing::warn!(%error, partitions = ?partitions,
                "cannot load the deduplication windows of the assigned partitions now; each is loaded when its stored offset is read");
        }
    }
}
