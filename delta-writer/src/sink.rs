//! The lake as the sink of the shared consume loop: the events writer behind [`BatchSink`], or
//! with `LAKE_TABLES` set the routed writer over many tables. Both keep each record as it arrives
//! (encoded into its table's Parquet files), so the loop's batch only counts them; the routed
//! writer lets the batch hold a record whose table cannot be opened at that moment.

use std::collections::BTreeSet;

use async_trait::async_trait;
use lakehouse_event::{Batch, Record};
use lakehouse_kafka::{BatchSink, Offered};
use lakehouse_lake::{EventsWriter, LakeError, RoutedWriter};

/// The lake, written by the consume loop.
#[derive(Debug)]
pub enum LakeSink {
    /// Every event in `<lake>/events`.
    One(Box<EventsWriter>),
    /// Each event in the table its route names.
    Routed(Box<RoutedWriter>),
}

#[async_trait]
impl BatchSink for LakeSink {
    type Error = LakeError;
    const NAME: &'static str = "lake";

    /// Also makes sure the partition's deduplication window is loaded: the loop calls this
    /// whenever the partition is (re)assigned.
    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        match self {
            Self::One(writer) => writer.stored_offset(topic, partition).await,
            Self::Routed(writer) => writer.stored_offset(topic, partition).await,
        }
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), LakeError> {
        match self {
            Self::One(writer) => writer.write(batch).await,
            Self::Routed(writer) => writer.write(batch).await,
        }
    }

    async fn offer(&mut self, record: &Record) -> Offered {
        match self {
            Self::One(writer) => Offered::Kept {
                held_bytes: writer.offer(record),
            },
            Self::Routed(writer) => match writer.offer(record).await {
                Some(held_bytes) => Offered::Kept { held_bytes },
                None => Offered::Declined,
            },
        }
    }

    fn discard(&mut self) {
        match self {
            Self::One(writer) => writer.discard(),
            Self::Routed(writer) => writer.discard(),
        }
    }

    async fn assigned(&mut self, topic: &str, partitions: &BTreeSet<i32>) {
        let loaded = match self {
            Self::One(writer) => writer.assigned(topic, partitions).await,
            Self::Routed(writer) => writer.assigned(topic, partitions).await,
        };
        if let Err(error) = loaded {
            tracing::warn!(%error, partitions = ?partitions,
                "cannot load the deduplication windows of the assigned partitions now; each is loaded when its stored offset is read");
        }
    }
}
