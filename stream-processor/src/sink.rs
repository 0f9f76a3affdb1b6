//! The warehouse as the sink of the shared consume loop: each batch is written with the offsets
//! it covers, in one go.

use async_trait::async_trait;
use lakehouse_event::Batch;
use lakehouse_kafka::BatchSink;
use lakehouse_warehouse::{Warehouse, WarehouseError};

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
        self.0.write_batch(batch).await?;
        Ok(())
    }
}
