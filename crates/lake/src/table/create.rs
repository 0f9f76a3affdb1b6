//! Creating the events table: opened if it exists, created with the events schema, partitioned by
//! `event_date`, otherwise. Two writers creating it at once is fine: the loser opens the winner's.
//! The table's log settings are fixed at creation (DESIGN.md §8.1).

use chrono::Duration;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, TableProperty};

use crate::error::LakeError;
use crate::table::location::{EVENTS_TABLE, LakeLocation, open_table};
use crate::table::schema::{PARTITION_COLUMN, events_schema};

/// A checkpoint every this many commits when none is given: readers then replay at most this many
/// log files.
pub const DEFAULT_CHECKPOINT_INTERVAL: u64 = 100;

/// How long the log keeps commit files when none is given, in hours (30 days, Delta's own
/// default): at least the restore window, so that every version within it stays readable.
pub const DEFAULT_LOG_RETENTION_HOURS: i64 = 720;

/// A duration as Delta writes one in table properties: `interval 720 hours`.
fn interval(duration: Duration) -> String {
    let seconds = duration.num_seconds().max(0);
    if seconds % 3600 == 0 {
        format!("interval {} hours", seconds / 3600)
    } else {
        format!("interval {seconds} seconds")
    }
}

/// Opens `<lake>/events`, creating it if absent with `delta.checkpointInterval =
/// checkpoint_interval` (at least 1) and `delta.logRetentionDuration = log_retention` (whole
/// seconds): log files older than that which no newer version needs are removed after each
/// checkpoint.
pub async fn open_or_create(
    location: &LakeLocation,
    checkpoint_interval: u64,
    log_retention: Duration,
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
        .with_configuration_property(TableProperty::LogRetentionDuration, Some(interval(log_retention)))
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
