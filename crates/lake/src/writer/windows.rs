//! Keeping the writer's deduplication windows (DESIGN.md §8.4) in step with the table without
//! scanning it. A partition's window is loaded from only the files that can hold it: those whose
//! arrival-time statistics reach into the window before the table's newest arrival (read once
//! for every partition assigned together). A window the writer keeps across a rebalance stays;
//! what other writers committed to its partition meanwhile is read from the files their commits
//! added, found through the log.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use uuid::Uuid;

use crate::error::LakeError;
use crate::table::decode::parse_event_id;
use crate::table::log::LogEntry;
use crate::table::query::query;
use crate::table::stats::newest_received_at;
use crate::writer::dedup::Dedup;

/// An event's arrival as the window needs it: its partition, when it arrived, its id.
type Arrival = (i32, DateTime<Utc>, Uuid);

/// Replaces the windows of `partitions` with the ids the table holds for them within the
/// window before its newest arrival. Files whose newest arrival is older are not read.
pub(crate) async fn load(
    table: &DeltaTable,
    dedup: &mut Dedup,
    partitions: &BTreeSet<i32>,
) -> Result<(), LakeError> {
    if partitions.is_empty() {
        return Ok(());
    }
    let mut found: BTreeMap<i32, Vec<(DateTime<Utc>, Uuid)>> =
        partitions.iter().map(|&p| (p, Vec::new())).collect();
    let newest = newest_received_at(table)?;
    if let Some(newest) = newest {
        let cutoff = (newest - dedup.window()).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let list = partitions
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT CAST(event_id AS VARCHAR) AS event_id, received_at, kafka_partition FROM events
             WHERE kafka_partition IN ({list})
               AND received_at >= arrow_cast('{cutoff}', 'Timestamp(Microsecond, Some(\"UTC\"))')"
        );
        for batch in query(table, &sql).await? {
            for (partition, at, id) in arrivals(batch.column(0), batch.column(1), batch.column(2))? {
                found.entry(partition).or_default().push((at, id));
            }
        }
    }
    let mut ids = 0;
    for (partition, arrived) in found {
        ids += arrived.len();
        dedup.load(partition, arrived);
    }
    if let Some(newest) = newest {
        dedup.arrived(newest);
    }
    tracing::debug!(partitions = ?partitions, ids, newest = ?newest, "deduplication windows loaded");
    Ok(())
}

/// Adds to the held windows the ids another writer's commit wrote to their partitions (the
/// partitions whose offsets it stored), read from the files it added.
pub(crate) async fn catch_up(
    table: &DeltaTable,
    dedup: &mut Dedup,
    entry: &LogEntry,
    partitions: &BTreeSet<i32>,
) -> Result<(), LakeError> {
    let held: BTreeSet<i32> = partitions.iter().copied().filter(|&p| dedup.holds(p)).collect();
    if held.is_empty() || entry.added.is_empty() {
        return Ok(());
    }
    let mut by_partition: BTreeMap<i32, Vec<(DateTime<Utc>, Uuid)>> = BTreeMap::new();
    for path in &entry.added {
        for (partition, at, id) in arrivals_in_file(table, path).await? {
            if held.contains(&partition) {
                by_partition.entry(partition).or_default().push((at, id));
            }
        }
    }
    tracing::debug!(version = entry.version, partitions = ?held, "deduplication windows caught up with another writer's commit");
    for (partition, ids) in by_partition {
        if let Some(newest) = ids.iter().map(|(at, _)| *at).max() {
            dedup.remember(partition, ids, newest);
        }
    }
    Ok(())
}

/// The partition, arrival time and id of every row of one data file.
async fn arrivals_in_file(table: &DeltaTable, path: &str) -> Result<Vec<Arrival>, LakeError> {
    let bytes = table
        .object_store()
        .get(&Path::from(path))
        .await
        .map_err(deltalake::DeltaTableError::from)?
        .bytes()
        .await
        .map_err(deltalake::DeltaTableError::from)?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(deltalake::DeltaTableError::from)?;
    let columns = ProjectionMask::columns(
        builder.parquet_schema(),
        ["event_id", "received_at", "kafka_partition"],
    );
    let reader = builder
        .with_projection(columns)
        .build()
        .map_err(deltalake::DeltaTableError::from)?;
    let mut all = Vec::new();
    for batch in reader {
        let batch = batch?;
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| {
                crate::table::decode::RowError::Invalid(format!("{path} has no column {name}"))
            })
        };
        all.extend(arrivals(
            &column("event_id")?,
            &column("received_at")?,
            &column("kafka_partition")?,
        )?);
    }
    Ok(all)
}

fn arrivals(
    ids: &dyn Array,
    received: &dyn Array,
    partitions: &dyn Array,
) -> Result<Vec<Arrival>, LakeError> {
    let ids = cast(ids, &DataType::Utf8)?;
    let received = cast(received, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let received = received.as_primitive::<TimestampMicrosecondType>();
    let partitions = cast(partitions, &DataType::Int32)?;
    let partitions = partitions.as_primitive::<Int32Type>();
    let mut all = Vec::with_capacity(ids.len());
    for (row, id) in ids.as_string::<i32>().iter().enumerate() {
        let Some(at) = DateTime::from_timestamp_micros(received.value(row)) else {
            continue;
        };
        all.push((partitions.value(row), at, parse_event_id(id)?));
    }
    Ok(all)
}
