//! Keeping the writer's deduplication windows (DESIGN.md §8.4) in step with the table without
//! scanning it. A partition's window is loaded from only the files that can hold it: those whose
//! arrival-time statistics reach into the window before the table's newest arrival and whose
//! Kafka partitions include it (read once for every partition assigned together, three columns
//! of each, with the Parquet reader: no query engine). A window the writer keeps across a rebalance stays;
//! what other writers committed to its partition meanwhile is read from the files their commits
//! added, found through the log.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::parquet_reader::ParquetObjectReader;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::error::LakeError;
use crate::table::decode::parse_event_id;
use crate::table::log::LogEntry;
use crate::table::schema::{KAFKA_PARTITION, RECEIVED_AT};
use crate::table::stats::newest_received_at;
use crate::writer::dedup::Dedup;

/// An event's arrival as the window needs it: its partition, when it arrived, its id.
type Arrival = (i32, DateTime<Utc>, Uuid);

/// Replaces the windows of `partitions` with the ids the table holds for them within the
/// window before its newest arrival. Files whose newest arrival is older, or whose Kafka
/// partitions are none of these (both from their statistics), are not read; of the others only
/// the three columns a window needs.
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
        let cutoff = newest - dedup.window();
        let files: Vec<(String, u64)> = table
            .snapshot()?
            .log_data()
            .iter()
            .filter(|file| may_hold(file.stats().as_deref(), partitions, cutoff))
            .map(|file| (file.path().into_owned(), u64::try_from(file.size()).unwrap_or(0)))
            .collect();
        let mut reads = futures::stream::iter(files)
            .map(|(path, size)| async move { arrivals_in_file(table, &path, Some(size)).await })
            .buffered(CONCURRENT_READS);
        while let Some(arrivals) = reads.try_next().await? {
            for (partition, at, id) in arrivals {
                if at >= cutoff
                    && let Some(window) = found.get_mut(&partition)
                {
                    window.push((at, id));
                }
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

/// Files read at once while windows load.
const CONCURRENT_READS: usize = 4;

/// False when a file's statistics (`stats`, its `add` action's) show that it holds no row of
/// `partitions` that arrived at or after `cutoff`; true when they do not tell.
fn may_hold(stats: Option<&str>, partitions: &BTreeSet<i32>, cutoff: DateTime<Utc>) -> bool {
    let Some(stats) = stats.and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok()) else {
        return true;
    };
    let newest = stats["maxValues"][RECEIVED_AT]
        .as_str()
        .and_then(|max| DateTime::parse_from_rfc3339(max).ok());
    // The maximum is rounded up to the millisecond, so a file it puts before the cutoff is.
    if newest.is_some_and(|newest| newest < cutoff) {
        return false;
    }
    let bound = |side: &str| stats[side][KAFKA_PARTITION].as_i64();
    match (bound("minValues"), bound("maxValues")) {
        (Some(low), Some(high)) => partitions
            .range(i32::try_from(low).unwrap_or(i32::MIN)..=i32::try_from(high).unwrap_or(i32::MAX))
            .next()
            .is_some(),
        _ => true,
    }
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
        for (partition, at, id) in arrivals_in_file(table, path, None).await? {
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

/// The partition, arrival time and id of every row of one data file (of `size` bytes, when
/// known: one request fewer), reading only those three columns.
async fn arrivals_in_file(
    table: &DeltaTable,
    path: &str,
    size: Option<u64>,
) -> Result<Vec<Arrival>, LakeError> {
    let mut reader = ParquetObjectReader::new(table.object_store(), Path::from(path));
    if let Some(size) = size {
        reader = reader.with_file_size(size);
    }
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(deltalake::DeltaTableError::from)?;
    let columns = ProjectionMask::columns(
        builder.parquet_schema(),
        ["event_id", RECEIVED_AT, KAFKA_PARTITION],
    );
    let mut rows = builder
        .with_projection(columns)
        .build()
        .map_err(deltalake::DeltaTableError::from)?;
    let mut all = Vec::new();
    while let Some(batch) = rows.try_next().await.map_err(deltalake::DeltaTableError::from)? {
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| {
                crate::table::decode::RowError::Invalid(format!("{path} has no column {name}"))
            })
        };
        all.extend(arrivals(
            &column("event_id")?,
            &column(RECEIVED_AT)?,
            &column(KAFKA_PARTITION)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(newest: &str, partitions: (i64, i64)) -> String {
        serde_json::json!({
            "numRecords": 2,
            "minValues": { KAFKA_PARTITION: partitions.0, RECEIVED_AT: "2026-01-01T00:00:00.000Z" },
            "maxValues": { KAFKA_PARTITION: partitions.1, RECEIVED_AT: newest },
        })
        .to_string()
    }

    #[test]
    fn only_files_that_may_hold_a_window_of_the_partitions_are_read() {
        let cutoff = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let assigned = BTreeSet::from([3, 7]);
        let recent = "2026-01-02T00:00:00.001Z";
        assert!(may_hold(Some(&stats(recent, (0, 3))), &assigned, cutoff));
        assert!(
            may_hold(Some(&stats(recent, (4, 9))), &assigned, cutoff),
            "7 is within 4..=9"
        );
        assert!(
            !may_hold(Some(&stats(recent, (4, 6))), &assigned, cutoff),
            "neither 3 nor 7"
        );
        assert!(
            !may_hold(
                Some(&stats("2026-01-01T23:59:59.999Z", (3, 3))),
                &assigned,
                cutoff
            ),
            "every row arrived before the window"
        );
        assert!(may_hold(None, &assigned, cutoff), "no statistics: read it");
        assert!(may_hold(Some("{}"), &assigned, cutoff), "no bounds: read it");
    }
}
