//! Rewriting small files into larger ones, per `event_date` partition, under the compaction claim
//! ([`crate::table::claim`]), which is released after whatever the outcome: the writer's
//! compaction ([`crate::writer::compaction`]). It needs no query engine: each file's rows are read
//! with the Parquet reader and streamed, a row group at a time, into a new file encoded as the
//! writer encodes its own, uploaded in parts as it grows. One commit then removes the small files
//! (`dataChange = false`: no row changed) and adds the new ones, as an `OPTIMIZE` whose
//! `commitInfo` carries what delta-rs's optimize records (`readVersion`, `operationMetrics`).
//! (`optimize`, which can also sort rows in Z-order, uses delta-rs's optimize:
//! [`crate::ops::optimize`], with the `query` feature.)
//!
//! Appends do not conflict with the commit (Delta downgrades a commit that changes no data to
//! snapshot isolation); a commit that removed one of its files with `dataChange = true` (an
//! erasure) does, and the rewrite starts again on the reloaded table. Two compactions of the same
//! files would both pass Delta's check, which is why they take turns through the claim.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{Schema, SchemaRef};
use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, Remove};
use deltalake::logstore::ObjectStoreRef;
use deltalake::logstore::object_store::buffered::BufWriter;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::parquet_reader::ParquetObjectReader;
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use deltalake::parquet::arrow::async_writer::AsyncArrowWriter;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::json;

use crate::error::{LakeError, fold_into_lake_error};
use crate::table::claim::{self, Claim};
use crate::table::conflict::ConflictRetries;
use crate::table::encode::{add_action, data_file};
use crate::table::file_stats::FileStats;
use crate::table::schema::PARTITION_COLUMN;
use crate::table::user_metadata::commit_properties_with;

/// The size files are compacted towards when none is given, in bytes.
pub const DEFAULT_TARGET_SIZE: u64 = 128 * 1024 * 1024;

/// What `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Optimized {
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions_optimized: u64,
    pub new_version: Option<u64>,
}

/// The highest reader version whose files this rewrite reads as they are: from version 2 on a
/// table may map columns to other physical names (or, from 3, mark rows deleted in a deletion
/// vector), which only a Delta reader resolves.
const PLAIN_READER_VERSION: i32 = 1;

/// The highest writer version whose features (`appendOnly`, `invariants`, check constraints,
/// generated columns, change data feed) a rewrite that changes no row respects by itself. From 5
/// on, column mapping and table features (row tracking, clustering) ask more of new files.
const REWRITABLE_WRITER_VERSION: i32 = 4;

/// A table whose files the rewrite cannot read, or write, without a Delta reader and writer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the table's protocol (reader version {reader}, writer version {writer}) asks more than the writer's compaction can rewrite (reader 1, writer 4); set COMPACT_SMALL_FILES=0 and run optimize instead"
)]
pub struct RewriteRefused {
    pub reader: i32,
    pub writer: i32,
}
fold_into_lake_error!(RewriteRefused);

/// A small file of the table, to be merged.
#[derive(Debug, Clone)]
struct Small {
    path: String,
    size: u64,
    remove: Remove,
}

/// Compacts the files smaller than `target_size` of the partitions `days` (`YYYY-MM-DD`) under
/// `claim`, writing files with `properties`, and releases the claim after, whatever the outcome.
pub(crate) async fn compact(
    table: DeltaTable,
    days: &[String],
    target_size: u64,
    properties: WriterProperties,
    user_metadata: Option<&str>,
    claim: Claim,
) -> Result<Optimized, LakeError> {
    let target = NonZeroU64::new(target_size).unwrap_or(NonZeroU64::MIN);
    let mut table = table;
    let mut retries = ConflictRetries::new("compaction");
    let compacted = loop {
        let compacted = compact_once(&table, days, target, &properties, user_metadata).await;
        if !retries.again(&compacted) {
            break compacted;
        }
        if let Err(error) = table.update_state().await {
            break Err(error.into());
        }
    };
    claim::release(&mut table, claim).await;
    compacted
}

/// One attempt: plans on the loaded version, rewrites, commits on that version.
async fn compact_once(
    table: &DeltaTable,
    days: &[String],
    target: NonZeroU64,
    properties: &WriterProperties,
    user_metadata: Option<&str>,
) -> Result<Optimized, LakeError> {
    let snapshot = table.snapshot()?;
    let protocol = snapshot.protocol();
    if protocol.min_reader_version() > PLAIN_READER_VERSION
        || protocol.min_writer_version() > REWRITABLE_WRITER_VERSION
    {
        return Err(RewriteRefused {
            reader: protocol.min_reader_version(),
            writer: protocol.min_writer_version(),
        }
        .into());
    }
    let read_version = snapshot.version();
    let bins = plan(table, days, target.get())?;
    if bins.is_empty() {
        return Ok(Optimized {
            files_removed: 0,
            files_added: 0,
            partitions_optimized: 0,
            new_version: table.version(),
        });
    }
    let schema = file_schema(table)?;
    let store = table.object_store();
    let mut actions = Vec::new();
    let (mut removed, mut added, mut bytes_removed, mut bytes_added) = (0u64, 0u64, 0u64, 0u64);
    for (day, day_bins) in &bins {
        for bin in day_bins {
            let add = merge(&store, &schema, day, bin, properties).await?;
            added += 1;
            bytes_added += u64::try_from(add.size).unwrap_or(0);
            actions.push(Action::Add(add));
            for file in bin {
                removed += 1;
                bytes_removed += file.size;
                actions.push(Action::Remove(file.remove.clone()));
            }
        }
    }
    let partitions = bins.len() as u64;
    let metrics = json!({
        "numFilesAdded": added,
        "numFilesRemoved": removed,
        "filesAdded": { "totalFiles": added, "totalSize": bytes_added },
        "filesRemoved": { "totalFiles": removed, "totalSize": bytes_removed },
        "partitionsOptimized": partitions,
    });
    let metadata = [
        ("readVersion".to_string(), json!(read_version)),
        ("operationMetrics".to_string(), metrics),
    ];
    // The writer keeps the log (checkpoints, expired log files) itself, after its own commits.
    let properties = commit_properties_with(user_metadata, metadata)
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false));
    let operation = DeltaOperation::Optimize {
        predicate: Some(format!("{PARTITION_COLUMN} IN ('{}')", days.join("', '"))),
        target_size: i64::try_from(target.get()).unwrap_or(i64::MAX),
    };
    let committed = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await?;
    Ok(Optimized {
        files_removed: removed,
        files_added: added,
        partitions_optimized: partitions,
        new_version: Some(committed.version()),
    })
}

/// The small files of each of `days`, in bins of at most `target_size` bytes of at least two
/// files each (a bin of one would only copy it). Files with a deletion vector are left alone: their
/// Parquet holds rows the table no longer does.
fn plan(
    table: &DeltaTable,
    days: &[String],
    target_size: u64,
) -> Result<BTreeMap<String, Vec<Vec<Small>>>, LakeError> {
    let mut small: BTreeMap<String, Vec<Small>> = BTreeMap::new();
    for file in table.snapshot()?.log_data().iter() {
        let size = u64::try_from(file.size()).unwrap_or(0);
        if size >= target_size || file.deletion_vector_descriptor().is_some() {
            continue;
        }
        let Some(Some(day)) = file.partition_values_map().remove(PARTITION_COLUMN) else {
            continue;
        };
        if days.contains(&day) {
            small.entry(day).or_default().push(Small {
                path: file.path().into_owned(),
                size,
                remove: file.remove_action(false),
            });
        }
    }
    let mut plan = BTreeMap::new();
    for (day, files) in small {
        let bins = bins(files, target_size);
        if !bins.is_empty() {
            plan.insert(day, bins);
        }
    }
    Ok(plan)
}

/// `files` in order, in bins of at most `target_size` bytes (a file alone may be more), keeping
/// only the bins of two files or more.
fn bins(files: Vec<Small>, target_size: u64) -> Vec<Vec<Small>> {
    let mut bins: Vec<Vec<Small>> = Vec::new();
    let mut bin_size = 0;
    for file in files {
        if bins.is_empty() || bin_size + file.size > target_size {
            bins.push(Vec::new());
            bin_size = 0;
        }
        bin_size += file.size;
        bins.last_mut().expect("a bin was pushed above").push(file);
    }
    bins.retain(|bin| bin.len() > 1);
    bins
}

/// The columns of the table's data files: its schema (including columns a newer writer added,
/// which this build does not know) without the partition column.
fn file_schema(table: &DeltaTable) -> Result<SchemaRef, LakeError> {
    let schema: Schema = table
        .snapshot()?
        .schema()
        .as_ref()
        .try_into_arrow()
        .map_err(DeltaTableError::from)?;
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .filter(|field| field.name() != PARTITION_COLUMN)
        .cloned()
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// Streams the rows of `bin`'s files into one new file of partition `day`; returns its `add`.
async fn merge(
    store: &ObjectStoreRef,
    schema: &SchemaRef,
    day: &str,
    bin: &[Small],
    properties: &WriterProperties,
) -> Result<Add, LakeError> {
    let path = data_file(day);
    // Uploaded in parts as it grows: the file is never held whole.
    let target = BufWriter::new(Arc::clone(store), Path::from(path.as_str()));
    let mut writer = AsyncArrowWriter::try_new(target, Arc::clone(schema), Some(properties.clone()))
        .map_err(DeltaTableError::from)?;
    let mut stats = FileStats::new(Arc::clone(schema));
    for file in bin {
        let reader = ParquetObjectReader::new(Arc::clone(store), Path::from(file.path.as_str()))
            .with_file_size(file.size);
        let mut rows = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(DeltaTableError::from)?
            .build()
            .map_err(DeltaTableError::from)?;
        while let Some(batch) = rows.try_next().await.map_err(DeltaTableError::from)? {
            let batch = conform(&batch, schema)?;
            stats.add(&batch);
            writer.write(&batch).await.map_err(DeltaTableError::from)?;
        }
    }
    writer.finish().await.map_err(DeltaTableError::from)?;
    // No row changed: readers of the table's changes pass over the file.
    let data_change = false;
    Ok(add_action(path, day, writer.bytes_written(), &stats, data_change))
}

/// `batch` in the columns of `schema`: a column the file lacks (added to the table after it was
/// written) is null, one stored with another type (another writer's) is cast, one the table does
/// not have is left out.
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, LakeError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
            Some(column) if column.data_type() == field.data_type() => Ok(Arc::clone(column)),
            Some(column) => cast(column, field.data_type()),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn small(path: &str, size: u64) -> Small {
        let remove = Remove {
            path: path.to_string(),
            data_change: false,
            deletion_timestamp: None,
            extended_file_metadata: None,
            partition_values: None,
            size: Some(size as i64),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
        };
        Small {
            path: path.to_string(),
            size,
            remove,
        }
    }

    #[test]
    fn files_are_binned_up_to_the_target_and_a_bin_of_one_is_left_alone() {
        let files = ["a", "b", "c", "d", "e"]
            .iter()
            .zip([40, 50, 30, 90, 20])
            .map(|(path, size)| small(path, size))
            .collect();
        let bins: Vec<Vec<String>> = bins(files, 100)
            .into_iter()
            .map(|bin| bin.into_iter().map(|file| file.path).collect())
            .collect();
        // a+b = 90; c would pass 100 and starts a bin, as do d (c+d = 120) and e (d+e = 110):
        // each alone, so each is left as it is.
        assert_eq!(bins, vec![vec!["a".to_string(), "b".to_string()]]);
    }

    #[test]
    fn a_file_is_conformed_to_the_table_columns() {
        let file = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int32, false),
                Field::new("gone", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec!["x", "y"])),
            ],
        )
        .unwrap();
        let table: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("added", DataType::Utf8, true),
        ]));
        let batch = conform(&file, &table).unwrap();
        assert_eq!(batch.schema(), table);
        assert_eq!(
            batch.column(0).data_type(),
            &DataType::Int64,
            "cast to the table's type"
        );
        assert_eq!(batch.column(1).null_count(), 2, "a column the file lacks is null");
    }
}
