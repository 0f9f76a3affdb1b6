//! The lake as the sink of the shared consume loop: the events writer behind [`BatchSink`].

use async_trait::async_trait;
use lakehouse_kafka::{Batch, BatchSink};
use lakehouse_lake::{EventsWriter, LakeError};

/// The events table, written by the consume loop.
#[derive(Debug)]
pub struct LakeSink(pub EventsWriter);

#[async_trait]
impl BatchSink for LakeSink {
    type Error = LakeError;
    const NAME: &'static str = "lake";

    /// Also reloads the partition's recent ids for deduplication: the loop calls this whenever
    /// the partition is (re)assigned.
    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        self.0.stored_offset(topic, partition).await
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), LakeError> {
        self.0.write(batch).await
    }
}
