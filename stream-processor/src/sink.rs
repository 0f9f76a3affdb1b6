//! The warehouse as the sink of the shared consume loop: a batch's records become the rows the
//! warehouse library writes, with the offsets they cover.

use async_trait::async_trait;
use lakehouse_event::Batch;
use lakehouse_kafka::BatchSink;
use lakehouse_warehouse::{EventRow, Warehouse, WarehouseError};

/// The warehouse, written by the consume loop.
#[derive(Debug, Clone)]
pub struct WarehouseSink(pub Warehouse);

#[async_trait]
impl BatchSink for WarehouseSink {
    type Error = WarehouseError;
    const NAME: &'static str = "warehouse";

    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, WarehouseError> {
        self.0.stored_offset(topic, partition).await
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), WarehouseError> {
        let rows: Vec<EventRow<'_>> = batch
            .records
            .iter()
            .map(|record| EventRow {
                event: &record.event,
                partition: record.partition,
                offset: record.offset,
            })
            .collect();
        self.0.write(&batch.topic, &batch.next_offsets, &rows).await?;
        Ok(())
    }
}
