//! What a version of the table holds, read from its log rather than its data where the log knows:
//! files, bytes and rows (Delta records each file's row count), per `event_date` partition; the
//! schema; the last checkpoint and the commits a reader replays since it; the newest arrival
//! (`received_at`, from the files' statistics); and, from the data, how many events of each type. The lake browser shows them; the delta-writer reports the shape that
//! decides read cost (files, small files, commits since the checkpoint) as metrics for the alerts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::LogicalFileView;
use deltalake::table::config::TablePropertiesExt;
use serde::Serialize;

use crate::error::LakeError;
use crate::table::checkpoint::last_checkpoint;
#[cfg(feature = "query")]
use crate::table::query::query;
use crate::table::schema::{PARTITION_COLUMN, RECEIVED_AT};

/// A data file below this size counts as small: opening one costs more than reading it, many of
/// them slow every reader down, and `optimize` exists to merge them.
pub const SMALL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The files, bytes and rows of one `event_date` partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartitionStats {
    /// `YYYY-MM-DD`, as the log records the partition value (empty for a null).
    pub event_date: String,
    pub files: usize,
    pub small_files: usize,
    pub bytes: u64,
    /// Rows, from the files' statistics; files without statistics count none (see
    /// [`TableStats::files_without_row_count`]).
    pub rows: u64,
}

/// One column of the table's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
}

/// A version of the table at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStats {
    pub version: u64,
    pub files: usize,
    pub small_files: usize,
    pub bytes: u64,
    pub rows: u64,
    /// Files whose add action carries no row count (none that this project's writer wrote).
    pub files_without_row_count: usize,
    /// The newest `received_at` of any row (see [`newest_received_at`]); `None` for an empty table.
    pub newest_received_at: Option<DateTime<Utc>>,
    /// The newest checkpoint of the table (which may be newer than `version`).
    pub last_checkpoint: Option<u64>,
    /// Commits a reader replays on top of the newest checkpoint (or from the start).
    pub commits_since_checkpoint: u64,
    /// `delta.checkpointInterval`.
    pub checkpoint_interval: u64,
    pub partition_columns: Vec<String>,
    pub schema: Vec<Column>,
    /// Oldest day first.
    pub partitions: Vec<PartitionStats>,
}

/// The statistics of the table's loaded version, from its log alone.
pub async fn table_stats(table: &DeltaTable) -> Result<TableStats, LakeError> {
    let snapshot = table.snapshot()?;
    let mut partitions: BTreeMap<String, PartitionStats> = BTreeMap::new();
    let mut without_count = 0;
    let mut newest_received_at = None;
    for file in snapshot.log_data().iter() {
        newest_received_at = newest_received_at.max(max_received_at(&file));
        let event_date = file
            .partition_values_map()
            .get(PARTITION_COLUMN)
            .cloned()
            .flatten()
            .unwrap_or_default();
        let bytes = u64::try_from(file.size()).unwrap_or_default();
        let partition = partitions
            .entry(event_date.clone())
            .or_insert_with(|| PartitionStats {
                event_date,
                ..PartitionStats::default()
            });
        partition.files += 1;
        partition.bytes += bytes;
        partition.small_files += usize::from(bytes < SMALL_FILE_BYTES);
        match file.num_records() {
            Some(rows) => partition.rows += rows as u64,
            None => without_count += 1,
        }
    }
    let partitions: Vec<PartitionStats> = partitions.into_values().collect();
    let schema = snapshot
        .schema()
        .fields()
        .map(|field| Column {
            name: field.name().to_string(),
            data_type: field.data_type().to_string(),
            nullable: field.is_nullable(),
        })
        .collect();
    let version = table.version().unwrap_or(0);
    let last_checkpoint = last_checkpoint(table).await?.map(|checkpoint| checkpoint.version);
    Ok(TableStats {
        version,
        files: partitions.iter().map(|p| p.files).sum(),
        small_files: partitions.iter().map(|p| p.small_files).sum(),
        bytes: partitions.iter().map(|p| p.bytes).sum(),
        rows: partitions.iter().map(|p| p.rows).sum(),
        files_without_row_count: without_count,
        newest_received_at,
        last_checkpoint,
        commits_since_checkpoint: version.saturating_sub(last_checkpoint.unwrap_or(0)),
        checkpoint_interval: snapshot.table_config().checkpoint_interval().get(),
        partition_columns: snapshot.metadata().partition_columns().to_vec(),
        schema,
        partitions,
    })
}

/// The newest arrival (`received_at`) in the table's loaded version, from the files' maximum
/// statistics (Delta keeps them to the millisecond, rounded up), so no data is read.
pub fn newest_received_at(table: &DeltaTable) -> Result<Option<DateTime<Utc>>, LakeError> {
    let snapshot = table.snapshot()?;
    Ok(snapshot
        .log_data()
        .iter()
        .filter_map(|file| max_received_at(&file))
        .max())
}

/// The file's maximum `received_at`, from its statistics.
fn max_received_at(file: &LogicalFileView) -> Option<DateTime<Utc>> {
    let stats: serde_json::Value = serde_json::from_str(&file.stats()?).ok()?;
    let max = stats["maxValues"][RECEIVED_AT].as_str()?;
    DateTime::parse_from_rfc3339(max)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How many events of each type the loaded version holds, most frequent first.
#[cfg(feature = "query")]
pub async fn events_per_type(table: &DeltaTable) -> Result<Vec<(String, u64)>, LakeError> {
    use deltalake::arrow::array::AsArray;
    use deltalake::arrow::compute::cast;
    use deltalake::arrow::datatypes::{DataType, Int64Type};

    let batches = query(
        table,
        "SELECT event_type, count(*) AS n FROM events GROUP BY event_type ORDER BY n DESC, event_type",
    )
    .await?;
    let mut counts = Vec::new();
    for batch in batches {
        // DataFusion reads Parquet strings as views; cast to plain strings.
        let types = cast(batch.column(0), &DataType::Utf8)?;
        let n = batch.column(1).as_primitive::<Int64Type>();
        for (row, event_type) in types.as_string::<i32>().iter().enumerate() {
            counts.push((
                event_type.unwrap_or_default().to_string(),
                u64::try_from(n.value(row)).unwrap_or_default(),
            ));
        }
    }
    Ok(counts)
}
