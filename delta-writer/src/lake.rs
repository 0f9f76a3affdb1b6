//! The events table in the lake: opened or created at start-up, appended to in commits that carry
//! one `txn` action per Kafka partition (`app_id = <group>-<topic>-<partition>`, `version` = the
//! last offset written), so that the table itself records how far it has read.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deltalake::TableProperty;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use lakehouse_kafka::{Batch, BatchSink, Record};
use url::Url;
use uuid::Uuid;

use crate::config::LakeArgs;
use crate::crash::{self, CrashAt, Point};
use crate::dedup::Dedup;
use crate::schema::{PARTITION_COLUMN, events_schema, to_record_batch};

/// How often a batch is re-checked and retried when other writers keep committing offsets of its
/// partitions first, before the error goes to the consume loop (which retries with backoff).
const MAX_CONFLICT_RETRIES: u32 = 5;

/// The events table's name under the lake root.
pub const EVENTS_TABLE: &str = "events";

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("LAKE_URI {uri:?} is not a usable location: {reason}")]
    Location { uri: String, reason: String },
    #[error("Delta: {0}")]
    Delta(#[from] DeltaTableError),
    #[error("cannot build the arrow batch: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("query: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("there is no events table under {0} yet")]
    NoTable(String),
    #[error("{0}")]
    Refused(String),
}

/// The URL of `<lake root>/<table>`; a plain path is made absolute and created.
pub fn table_url(lake_uri: &str, table: &str) -> Result<Url, LakeError> {
    let location = |reason: String| LakeError::Location {
        uri: lake_uri.into(),
        reason,
    };
    if lake_uri.contains("://") {
        let mut url = Url::parse(lake_uri).map_err(|e| location(e.to_string()))?;
        let path = format!("{}/{table}/", url.path().trim_end_matches('/'));
        url.set_path(&path);
        if url.scheme() == "file" {
            let dir = url
                .to_file_path()
                .map_err(|()| location("not a local path".into()))?;
            std::fs::create_dir_all(&dir).map_err(|e| location(e.to_string()))?;
        }
        return Ok(url);
    }
    let dir = std::path::Path::new(lake_uri).join(table);
    std::fs::create_dir_all(&dir).map_err(|e| location(e.to_string()))?;
    let dir = dir.canonicalize().map_err(|e| location(e.to_string()))?;
    Url::from_directory_path(&dir).map_err(|()| location("not an absolute path".into()))
}

/// Opens the table at `url`, whatever its state (the tooling and tests read through this too).
pub async fn open_table(url: Url, args: &LakeArgs) -> Result<DeltaTable, LakeError> {
    deltalake::aws::register_handlers(None);
    Ok(DeltaTable::try_from_url_with_storage_options(url, args.storage_options()).await?)
}

/// The events table as a sink for one consumer group.
#[derive(Debug)]
pub struct Lake {
    table: DeltaTable,
    group: String,
    dedup: Dedup,
    crash: Option<CrashAt>,
}

impl Lake {
    /// Opens `<LAKE_URI>/events`, creating it if absent. Two writers creating it at once is fine:
    /// the loser finds the winner's table.
    pub async fn open_or_create(args: &LakeArgs, group: &str) -> Result<Self, LakeError> {
        let url = table_url(&args.lake_uri, EVENTS_TABLE)?;
        let mut table = open_table(url.clone(), args).await?;
        if table.version().is_none() {
            let schema: StructType = events_schema().as_ref().try_into_kernel()?;
            let created = table
                .create()
                .with_table_name(EVENTS_TABLE)
                .with_columns(schema.fields().cloned())
                .with_partition_columns([PARTITION_COLUMN])
                .with_configuration_property(
                    TableProperty::CheckpointInterval,
                    Some(args.checkpoint_interval.max(1).to_string()),
                )
                .with_save_mode(SaveMode::Ignore)
                .await;
            table = match created {
                Ok(table) => table,
                Err(error) => {
                    tracing::info!(%error, "table creation lost a race; opening the existing table");
                    open_table(url.clone(), args).await?
                }
            };
            tracing::info!(table = %url, "created the events table");
        }
        let probe = crate::probe::conditional_put(table.object_store().as_ref(), &Default::default())
            .await
            .map_err(|e| LakeError::Delta(e.into()))?;
        if probe == crate::probe::ConditionalPut::Ignored {
            if !args.single_writer {
                return Err(LakeError::Refused(format!(
                    "the object store at {url} ignores conditional writes (If-None-Match): two writers \
                     could overwrite each other's commits. Use a store that honours them (AWS S3, MinIO), \
                     or, if this is the table's only writer, set LAKE_SINGLE_WRITER=true"
                )));
            }
            tracing::warn!(table = %url, "the object store ignores conditional writes; running as the single writer");
        }
        Ok(Self {
            table,
            group: group.into(),
            dedup: Dedup::new(chrono::Duration::hours(24), 4_000_000),
            crash: None,
        })
    }

    /// Deduplicates `event_id`s within `window`, remembering at most `max_ids` (see
    /// [`crate::dedup`]).
    pub fn with_dedup(mut self, window: chrono::Duration, max_ids: usize) -> Self {
        self.dedup = Dedup::new(window, max_ids);
        self
    }

    /// Aborts the process at a point of a commit (see [`crate::crash`]); for the exactly-once tests.
    pub fn with_crash(mut self, crash: Option<CrashAt>) -> Self {
        self.crash = crash;
        self
    }

    /// The ids written to `partition` within the dedup window before its newest row.
    async fn recent_ids(&self, partition: i32) -> Result<Vec<(DateTime<Utc>, Uuid)>, LakeError> {
        let sql = format!(
            "WITH latest AS (SELECT max(received_at) AS newest FROM events WHERE kafka_partition = {partition})
             SELECT CAST(event_id AS VARCHAR) AS event_id, received_at FROM events, latest
             WHERE kafka_partition = {partition} AND received_at >= newest - INTERVAL '{} seconds'",
            self.dedup.window().num_seconds()
        );
        let mut ids = Vec::new();
        for batch in crate::query::query(&self.table, &sql).await? {
            let event_id = cast(batch.column(0), &DataType::Utf8)?;
            let received_at = cast(batch.column(1), &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let received_at = received_at.as_primitive::<TimestampMicrosecondType>();
            for (row, id) in event_id.as_string::<i32>().iter().enumerate() {
                let (Some(id), Some(at)) = (
                    id.and_then(|id| Uuid::parse_str(id).ok()),
                    DateTime::from_timestamp_micros(received_at.value(row)),
                ) else {
                    continue;
                };
                ids.push((at, id));
            }
        }
        Ok(ids)
    }

    fn app_id(&self, topic: &str, partition: i32) -> String {
        format!("{}-{topic}-{partition}", self.group)
    }

    /// Forgets the group's positions on `topic` for `partitions`, so that the next run reads them
    /// from the beginning of the log. The rows already in the table stay; the lake deduplicates
    /// `event_id`s only within its window, so older events a recreated topic carries again are
    /// written again.
    pub async fn reset_offsets(&mut self, topic: &str, partitions: &[i32]) -> Result<(), LakeError> {
        let positions: Vec<(i32, i64)> = partitions.iter().map(|&partition| (partition, 0)).collect();
        self.store_offsets(topic, &positions).await
    }

    /// Sets the group's stored positions (the next offset to read, per partition) in one commit
    /// of `txn` actions and no data.
    pub async fn store_offsets(&mut self, topic: &str, positions: &[(i32, i64)]) -> Result<(), LakeError> {
        self.table.update_state().await?;
        let transactions: Vec<Transaction> = positions
            .iter()
            .map(|&(partition, next)| Transaction::new(self.app_id(topic, partition), next - 1))
            .collect();
        self.append(&[], transactions).await
    }

    /// Appends `records` and the `txn` actions in one commit: the Parquet files are uploaded
    /// first, then the commit names them. A crash between the two leaves orphan files that no
    /// version references (vacuum removes them); the retry writes its own.
    async fn append(&mut self, records: &[Record], transactions: Vec<Transaction>) -> Result<(), LakeError> {
        crash::point(self.crash.as_ref(), Point::BeforeUpload);
        let mut actions = Vec::new();
        if !records.is_empty() {
            let mut writer = RecordBatchWriter::for_table(&self.table)?;
            writer.write(to_record_batch(records, Utc::now())?).await?;
            actions.extend(writer.flush().await?.into_iter().map(Action::Add));
        }
        crash::point(self.crash.as_ref(), Point::AfterUpload);
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![PARTITION_COLUMN.into()]),
            predicate: None,
        };
        let committed =
            CommitBuilder::from(CommitProperties::default().with_application_transactions(transactions))
                .with_actions(actions)
                .build(Some(self.table.snapshot()?), self.table.log_store(), operation)
                .await?;
        tracing::debug!(rows = records.len(), version = committed.version(), "lake commit");
        crash::point(self.crash.as_ref(), Point::AfterCommit);
        Ok(())
    }

    /// The last offset the table holds for a partition (-1 after a reset).
    async fn committed_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        let state = self.table.snapshot()?;
        let app_id = self.app_id(topic, partition);
        Ok(state
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await?)
    }
}

#[async_trait]
impl BatchSink for Lake {
    type Error = LakeError;

    /// Also reloads the partition's recent ids for deduplication: this is called whenever the
    /// partition is (re)assigned.
    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        self.table.update_state().await?;
        let recent = self.recent_ids(partition).await?;
        tracing::debug!(partition, ids = recent.len(), "deduplication window loaded");
        self.dedup.load(partition, recent);
        Ok(self
            .committed_offset(topic, partition)
            .await?
            .map(|last| last + 1))
    }

    /// Appends the records the table does not hold yet, with the new offsets, in one commit. The
    /// table is reloaded first, so a retry after an unclear failure, or a batch another writer
    /// already committed, writes nothing twice. When another writer commits offsets of one of
    /// our partitions between our reload and our commit (a rebalance moved it while we held a
    /// batch), Delta refuses our commit as a conflict on the partition's `txn`: we reload and
    /// write only what the other writer did not.
    async fn write(&mut self, batch: &Batch) -> Result<(), LakeError> {
        let mut conflicts = 0;
        loop {
            match self.write_new_records(batch).await {
                Err(LakeError::Delta(DeltaTableError::Transaction {
                    source: TransactionError::CommitConflict(conflict),
                })) if conflicts < MAX_CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::info!(%conflict, conflicts,
                        "another writer committed to our partitions first; reloading to write only what it did not");
                }
                result => return result,
            }
        }
    }
}

impl Lake {
    async fn write_new_records(&mut self, batch: &Batch) -> Result<(), LakeError> {
        self.table.update_state().await?;
        let mut committed = BTreeMap::new();
        for &partition in batch.next_offsets.keys() {
            committed.insert(partition, self.committed_offset(&batch.topic, partition).await?);
        }
        let is_new = |partition: i32, offset: i64| committed[&partition].is_none_or(|last| offset > last);
        // Records not committed yet, without ids written within the window or earlier in the batch.
        let mut in_batch = std::collections::HashSet::new();
        let fresh: Vec<Record> = batch
            .records
            .iter()
            .filter(|r| is_new(r.partition, r.offset))
            .filter(|r| {
                !self.dedup.contains(r.partition, &r.event.event_id) && in_batch.insert(r.event.event_id)
            })
            .cloned()
            .collect();
        let duplicates = batch
            .records
            .iter()
            .filter(|r| is_new(r.partition, r.offset))
            .count()
            - fresh.len();
        if duplicates > 0 {
            tracing::info!(
                duplicates,
                "event ids already written within the window were left out"
            );
        }
        let transactions: Vec<Transaction> = batch
            .next_offsets
            .iter()
            .filter(|&(&partition, &next)| is_new(partition, next - 1))
            .map(|(&partition, &next)| Transaction::new(self.app_id(&batch.topic, partition), next - 1))
            .collect();
        if transactions.is_empty() {
            tracing::info!("batch already in the table; nothing to write");
            return Ok(());
        }
        self.append(&fresh, transactions).await?;
        if let Some(newest) = fresh.iter().map(|r| r.event.received_at).max() {
            let mut by_partition: BTreeMap<i32, Vec<(DateTime<Utc>, Uuid)>> = BTreeMap::new();
            for r in &fresh {
                by_partition
                    .entry(r.partition)
                    .or_default()
                    .push((r.event.received_at, r.event.event_id));
            }
            for (partition, ids) in by_partition {
                self.dedup.remember(partition, ids, newest);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_uris_get_the_table_appended() {
        let url = table_url("s3://lake-bucket/prod/", "events").unwrap();
        assert_eq!(url.as_str(), "s3://lake-bucket/prod/events/");
        let url = table_url("s3://lake-bucket", "events").unwrap();
        assert_eq!(url.as_str(), "s3://lake-bucket/events/");
    }

    #[test]
    fn a_plain_path_becomes_an_absolute_file_url() {
        let dir = std::env::temp_dir().join(format!("lake-{}", std::process::id()));
        let url = table_url(dir.to_str().unwrap(), "events").unwrap();
        assert_eq!(url.scheme(), "file");
        assert!(url.path().ends_with("/events/"));
        assert!(dir.join("events").is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
