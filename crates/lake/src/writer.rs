//! Appending to the events table: each commit carries the rows and one `txn` action per Kafka
//! partition (`app_id = <group>-<topic>-<partition>`, `version` = the last offset written), so
//! that the table itself records how far it has read, and a batch whose offsets are stored is
//! never written again. Ids written within the deduplication window are left out.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use lakehouse_kafka::{Batch, Record};
use uuid::Uuid;

use crate::conflict::ConflictRetries;
use crate::create::{DEFAULT_CHECKPOINT_INTERVAL, open_or_create};
use crate::dedup::{Dedup, DedupOptions};
use crate::error::LakeError;
use crate::location::LakeLocation;
use crate::probe::ensure_safe_commits;
use crate::query::query;
use crate::schema::{PARTITION_COLUMN, to_record_batch};

/// How a writer writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// The consumer group whose offsets the commits store; every replica of a writer shares it.
    pub group: String,
    /// `delta.checkpointInterval`, set when the writer creates the table.
    pub checkpoint_interval: u64,
    pub dedup: DedupOptions,
}

impl WriterOptions {
    /// The defaults, for `group`.
    pub fn new(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            dedup: DedupOptions::default(),
        }
    }
}

/// The moments of a commit, in order; a hook set with [`EventsWriter::with_hook`] sees each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before any data file is uploaded.
    BeforeUpload,
    /// Data files uploaded, the commit not yet written: the files are orphans until it is.
    AfterUpload,
    /// The commit is in the log, nothing after it happened (no Kafka commit, no dedup memory).
    AfterCommit,
}

/// Called at each [`Stage`] of every commit.
#[derive(Clone)]
struct Hook(Arc<dyn Fn(Stage) + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// The events table as a sink for one consumer group.
#[derive(Debug)]
pub struct EventsWriter {
    table: DeltaTable,
    group: String,
    dedup: Dedup,
    hook: Option<Hook>,
}

impl EventsWriter {
    /// Opens `<lake>/events`, creating it if absent, after checking that the store keeps
    /// concurrent commits apart (see [`crate::probe`]).
    pub async fn open_or_create(location: &LakeLocation, options: &WriterOptions) -> Result<Self, LakeError> {
        let table = open_or_create(location, options.checkpoint_interval).await?;
        ensure_safe_commits(&table, location).await?;
        Ok(Self {
            table,
            group: options.group.clone(),
            dedup: options.dedup.into(),
            hook: None,
        })
    }

    /// Calls `hook` at each stage of every commit (the exactly-once tests abort the process there).
    pub fn with_hook(mut self, hook: impl Fn(Stage) + Send + Sync + 'static) -> Self {
        self.hook = Some(Hook(Arc::new(hook)));
        self
    }

    fn reached(&self, stage: Stage) {
        if let Some(Hook(hook)) = &self.hook {
            hook(stage);
        }
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
        for batch in query(&self.table, &sql).await? {
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

    /// The offset of the next message the table expects from `partition` (`None` when it holds
    /// nothing of it). Also reloads the partition's recent ids for deduplication: call it whenever
    /// the partition is (re)assigned.
    pub async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        self.table.update_state().await?;
        let recent = self.recent_ids(partition).await?;
        tracing::debug!(partition, ids = recent.len(), "deduplication window loaded");
        self.dedup.load(partition, recent);
        Ok(self
            .committed_offset(topic, partition)
            .await?
            .map(|last| last + 1))
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

    /// Appends the records the table does not hold yet, with the batch's offsets, in one commit.
    /// The table is reloaded first, so a retry after an unclear failure, or a batch another writer
    /// already committed, writes nothing twice. When another writer commits offsets of one of the
    /// batch's partitions between the reload and the commit (a rebalance moved it while the batch
    /// was held), Delta refuses the commit as a conflict on the partition's `txn`: the write is
    /// retried on the reloaded table, writing only what the other writer did not.
    pub async fn write(&mut self, batch: &Batch) -> Result<(), LakeError> {
        let mut retries = ConflictRetries::new("write");
        loop {
            let written = self.write_new_records(batch).await;
            if !retries.again(&written) {
                return written;
            }
        }
    }

    /// Appends `records` and the `txn` actions in one commit: the Parquet files are uploaded
    /// first, then the commit names them. A crash between the two leaves orphan files that no
    /// version references (vacuum removes them); the retry writes its own.
    async fn append(&mut self, records: &[Record], transactions: Vec<Transaction>) -> Result<(), LakeError> {
        self.reached(Stage::BeforeUpload);
        let mut actions = Vec::new();
        if !records.is_empty() {
            let mut writer = RecordBatchWriter::for_table(&self.table)?;
            writer.write(to_record_batch(records, Utc::now())?).await?;
            actions.extend(writer.flush().await?.into_iter().map(Action::Add));
        }
        self.reached(Stage::AfterUpload);
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
        self.reached(Stage::AfterCommit);
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

    async fn write_new_records(&mut self, batch: &Batch) -> Result<(), LakeError> {
        self.table.update_state().await?;
        let mut committed = BTreeMap::new();
        for &partition in batch.next_offsets.keys() {
            committed.insert(partition, self.committed_offset(&batch.topic, partition).await?);
        }
        let is_new = |partition: i32, offset: i64| committed[&partition].is_none_or(|last| offset > last);
        // Records not committed yet, without ids written within the window or earlier in the batch.
        let mut in_batch = HashSet::new();
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
