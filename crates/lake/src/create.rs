//! Creating the events table: opened if it exists, created with the events schema, partitioned by
//! `event_date`, otherwise. Two writers creating it at once is fine: the loser opens the winner's.

use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, TableProperty};

use crate::error::LakeError;
use crate::location::{EVENTS_TABLE, LakeLocation, open_table};
use crate::schema::{PARTITION_COLUMN, events_schema};

/// A checkpoint every this many commits when none is given: readers then replay at most this many
/// log files.
pub const DEFAULT_CHECKPOINT_INTERVAL: u64 = 100;

/// Opens `<lake>/events`, creating it with `delta.checkpointInterval = checkpoint_interval` (at
/// least 1) if absent.
pub async fn open_or_create(
    location: &LakeLocation,
    checkpoint_interval: u64,
) -> Result<DeltaTable, LakeError> {
    let url = location.events_url()?;
    let table = open_table(url.clone(), location).await?;
    if table.version().is_some() {
        return Ok(table);
    }
    let schema: StructType = events_schema().as_ref().try_into_kernel()?;
    let created = table
        .create()
        .with_table_name(EVENTS_TABLE)
        .with_columns(schema.fields().cloned())
        .with_partition_columns([PARTITION_COLUMN])
        .with_configuration_property(
            TableProperty::CheckpointInterval,
            Some(checkpoint_interval.max(1).to_string()),
        )
        .with_save_mode(SaveMode::Ignore)
        .await;
    let table = match created {
        Ok(table) => table,
        Err(error) => {
            tracing::info!(%error, "table creation lost a race; opening the existing table");
            open_table(url.clone(), location).await?
        }
    };
    tracing::info!(table = %url, "created the events table");
    Ok(table)
}
