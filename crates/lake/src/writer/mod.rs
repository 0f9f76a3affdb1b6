//! Appending to the events table: each commit carries the rows and one `txn` action per Kafka
//! partition (`app_id = <group>-<topic>-<partition>`, `version` = the last offset written), so
//! that the table itself records how far it has read, and a batch whose offsets are stored is
//! never written again. Records are encoded as they arrive ([`staging`]); ids written
//! within the deduplication window are left out ([`dedup`], kept in step with the table
//! by [`windows`]). Appends are committed without the table's file list
//! ([`append`]), which is loaded only where it is read. After a commit come the log's
//! upkeep ([`crate::table::checkpoint`]) and, when asked for, compaction ([`compaction`]).
//! The modules of this folder are the writer's internals; nothing outside the writer uses them
//! but the options and constants the crate root re-exports.

pub(crate) mod append;
pub(crate) mod compaction;
pub(crate) mod dedup;
pub(crate) mod offsets;
pub(crate) mod routed;
pub(crate) mod staging;
pub(crate) mod windows;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Duration;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use lakehouse_event::{Batch, Record};

use crate::error::LakeError;
use crate::table::checkpoint::Upkeep;
use crate::table::conflict::{COMMIT_ATTEMPTS, ConflictRetries};
use crate::table::create::{DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_LOG_RETENTION_HOURS, open_or_create};
use crate::table::evolve::{add_missing_columns, ensure_evolved};
use crate::table::location::LakeLocation;
use crate::table::log::{LogError, log_entry};
use crate::table::probe::ensure_safe_commits;
use crate::table::rewrite::Optimized;
use crate::table::schema::PARTITION_COLUMN;
use crate::writer::append::{append, can_append};
use crate::writer::compaction::{CompactionOptions, Compactor};
use crate::writer::dedup::{Dedup, DedupOptions};
use crate::writer::offsets::Offsets;
use crate::writer::staging::Staged;

/// The lake writer's consumer group unless configured otherwise: its offsets are the `txn`
/// actions of this group in the table's log.
pub const DEFAULT_GROUP_ID: &str = "lakehouse-lake";

/// How a writer writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// The consumer group whose offsets the commits store; every replica of a writer shares it.
    pub group: String,
    /// `delta.checkpointInterval`, set when the writer creates the table.
    pub checkpoint_interval: u64,
    /// `delta.logRetentionDuration`, set when the writer creates the table.
    pub log_retention: Duration,
    pub dedup: DedupOptions,
    pub compaction: CompactionOptions,
}

impl WriterOptions {
    /// The defaults, for `group`.
    pub fn new(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            log_retention: Duration::hours(DEFAULT_LOG_RETENTION_HOURS),
            dedup: DedupOptions::default(),
            compaction: CompactionOptions::default(),
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
    /// The commit is in the log, nothing after it happened (no checkpoint, no Kafka commit, no
    /// dedup memory).
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

/// Past this many commits of others since the writer last read the log (an idle replica given
/// partitions), it forgets what it knows of offsets and windows and reads them afresh, rather
/// than reading every commit.
const FOLLOW_LIMIT: u64 = 200;

/// Commits since the loaded version read one by one for a partition's stored offset before the
/// table is loaded instead (see [`EventsWriter::last_offset`]).
const LOOKBACK: u64 = 32;

/// The commits since the loaded version were too many to read, or one could not be read.
struct Unread;

/// The events table as a sink for one consumer group.
#[derive(Debug)]
pub struct EventsWriter {
    table: DeltaTable,
    offsets: Offsets,
    /// The table version whose commits `offsets` and the windows reflect.
    followed: Option<u64>,
    dedup: Dedup,
    staged: Staged,
    /// Ids of the batch left out as written before.
    duplicates: usize,
    /// Why the batch can never be committed whole (a record could not be encoded).
    broken: Option<String>,
    /// A commit failed: the table is reloaded before the next.
    stale: bool,
    upkeep: Upkeep,
    compactor: Compactor,
    hook: Option<Hook>,
}

impl EventsWriter {
    /// Opens `<lake>/events`, creating it if absent, after checking that the store keeps
    /// concurrent commits apart (see [`crate::table::probe`]), and adds the columns of the events
    /// schema it lacks (see [`crate::table::evolve`]); a table whose schema it cannot write is refused
    /// ([`crate::SchemaError`]).
    pub async fn open_or_create(location: &LakeLocation, options: &WriterOptions) -> Result<Self, LakeError> {
        let mut table = open_or_create(location, options.checkpoint_interval, options.log_retention).await?;
        ensure_safe_commits(&table, location).await?;
        add_missing_columns(&mut table).await?;
        Ok(Self {
            followed: table.version(),
            table,
            offsets: Offsets::new(&options.group),
            dedup: options.dedup.into(),
            staged: Staged::default(),
            duplicates: 0,
            broken: None,
            stale: false,
            upkeep: Upkeep::default(),
            compactor: Compactor::new(options.compaction),
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

    /// Reloads the table and reads what others committed since the writer last looked.
    async fn sync(&mut self) -> Result<(), LakeError> {
        self.table.update_state().await?;
        let latest = self.table.version();
        // Forgetting is cheaper than reading a long log, but not while a batch is held: its ids
        // must stay remembered once it commits.
        let may_forget = !self.dedup.has_pending();
        self.follow(latest, may_forget).await
    }

    /// Adds the columns of the events schema the loaded version lacks (a restore to before they
    /// were added removes them), then reads the commits up to the version it left the table at
    /// (its own, or the one it reloaded after losing a race): the offsets a commit stores are
    /// decided on the version it is built on.
    async fn evolve(&mut self) -> Result<(), LakeError> {
        add_missing_columns(&mut self.table).await?;
        if self.table.version() > self.followed {
            let may_forget = !self.dedup.has_pending();
            self.follow(self.table.version(), may_forget).await?;
        }
        Ok(())
    }

    /// Reads the commits after the followed version up to `until`: their stored offsets, and
    /// for the partitions whose windows are held, the ids other writers wrote to them.
    async fn follow(&mut self, until: Option<u64>, may_forget: bool) -> Result<(), LakeError> {
        let Some(until) = until else { return Ok(()) };
        let from = self.followed.map_or(0, |followed| followed + 1);
        if may_forget && from + FOLLOW_LIMIT <= until {
            self.forget_followed("many commits since the writer last read the log");
        } else {
            for version in from..=until {
                let entry = match log_entry(&self.table, version).await {
                    Ok(entry) => entry,
                    Err(error) if error.operation::<LogError>().is_some() => {
                        self.forget_followed("commits the writer did not read were cleaned up");
                        break;
                    }
                    Err(error) => return Err(error),
                };
                let partitions = self.offsets.partitions_in(&entry);
                self.offsets.apply(&entry);
                windows::catch_up(&self.table, &mut self.dedup, &entry, &partitions).await?;
            }
        }
        self.followed = Some(until);
        Ok(())
    }

    /// Forgets the offsets and windows read so far; they are read again as partitions are
    /// assigned.
    fn forget_followed(&mut self, why: &str) {
        tracing::info!(why, "reading stored offsets and deduplication windows afresh");
        self.offsets.forget();
        for partition in self.dedup.partitions() {
            self.dedup.forget(partition);
        }
    }

    /// The offset of the next message the table expects from `partition` (`None` when it holds
    /// nothing of it). Also makes sure the partition's deduplication window is held: call it
    /// whenever the partition is (re)assigned.
    pub async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        self.sync().await?;
        if !self.dedup.holds(partition) {
            windows::load(&self.table, &mut self.dedup, &BTreeSet::from([partition])).await?;
        }
        Ok(self.last_offset(topic, partition).await?.map(|last| last + 1))
    }

    /// The partitions of `topic` the writer's consumer holds now: the deduplication windows of
    /// the new ones are loaded in one read of the table, those of partitions it holds no more
    /// are forgotten, and those it keeps stay (brought up to date with what others wrote). An
    /// empty set (between a revocation and the next assignment) changes nothing.
    pub async fn assigned(&mut self, _topic: &str, partitions: &BTreeSet<i32>) -> Result<(), LakeError> {
        if partitions.is_empty() {
            return Ok(());
        }
        for partition in self.dedup.partitions() {
            if !partitions.contains(&partition) {
                self.dedup.forget(partition);
            }
        }
        self.sync().await?;
        let new: BTreeSet<i32> = partitions
            .iter()
            .copied()
            .filter(|&p| !self.dedup.holds(p))
            .collect();
        windows::load(&self.table, &mut self.dedup, &new).await
    }

    /// Takes a record into the batch being written, unless its id was written within the
    /// window (or earlier in the batch); returns the memory the batch holds.
    pub fn offer(&mut self, record: &Record) -> usize {
        if self.broken.is_none() {
            let event = &record.event;
            if !self
                .dedup
                .insert_pending(record.partition, event.received_at, event.event_id)
            {
                self.duplicates += 1;
            } else if let Err(error) = self.staged.append(record) {
                tracing::error!(%error, partition = record.partition, offset = record.offset,
                    "cannot encode a record; the batch cannot be committed and is read again after a restart");
                self.broken = Some(error.to_string());
            }
        }
        self.held_bytes()
    }

    /// Drops the batch being written (its records are read again from the stored offsets).
    pub fn discard(&mut self) {
        self.staged.clear();
        self.dedup.discard_pending();
        self.duplicates = 0;
        self.broken = None;
    }

    /// The memory the batch being written holds: its encoded files and open chunks, and the
    /// bookkeeping of its ids that the window takes back if the batch is dropped.
    pub fn held_bytes(&self) -> usize {
        self.staged.held_bytes() + self.dedup.pending_bytes()
    }

    /// Waits for the compaction running beside the writer, if any, and returns what it did.
    pub async fn compaction_finished(&mut self) -> Option<Result<Optimized, LakeError>> {
        self.compactor.finished().await
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
        self.sync().await?;
        self.evolve().await?;
        let stored: Vec<(i32, i64)> = positions.iter().map(|&(p, next)| (p, next - 1)).collect();
        self.reached(Stage::BeforeUpload);
        self.reached(Stage::AfterUpload);
        self.commit(topic, Vec::new(), &stored).await?;
        Ok(())
    }

    /// Commits the batch: the records it holds (library callers) or that were offered as they
    /// arrived (the consume loop), and its offsets. The table is reloaded first after a failed
    /// attempt, so a retry after an unclear failure, or a batch another writer already
    /// committed, writes nothing twice. When another writer commits offsets of one of the
    /// batch's partitions first (a rebalance moved it while the batch was held), Delta refuses
    /// the commit as a conflict on the partition's `txn`: the write is retried on the reloaded
    /// table, writing only what the other writer did not.
    pub async fn write(&mut self, batch: &Batch) -> Result<(), LakeError> {
        if let Some(reason) = &self.broken {
            return Err(crate::table::decode::RowError::Invalid(format!(
                "the batch could not be encoded ({reason}); restart the writer to read it again"
            ))
            .into());
        }
        if self.stale {
            self.sync().await?;
            self.stale = false;
        }
        if !batch.records.is_empty() && self.staged.rows() == 0 {
            self.stage_held(batch).await?;
        }
        self.evolve().await?;
        let mut retries = ConflictRetries::new("write");
        loop {
            let written = self.commit_staged(batch).await;
            self.stale = written.is_err();
            if !retries.again(&written) {
                return written;
            }
            self.sync().await?;
            self.evolve().await?;
            self.stale = false;
        }
    }

    /// Stages the records a batch holds itself that the table does not hold yet.
    async fn stage_held(&mut self, batch: &Batch) -> Result<(), LakeError> {
        self.sync().await?;
        for record in &batch.records {
            let last = self.last_offset(&batch.topic, record.partition).await?;
            if last.is_none_or(|last| record.offset > last) {
                self.offer(record);
            }
        }
        Ok(())
    }

    async fn commit_staged(&mut self, batch: &Batch) -> Result<(), LakeError> {
        let mut committed = BTreeMap::new();
        for &partition in batch.next_offsets.keys() {
            let last = self.last_offset(&batch.topic, partition).await?;
            committed.insert(partition, last);
        }
        let stored: Vec<(i32, i64)> = batch
            .next_offsets
            .iter()
            .map(|(&partition, &next)| (partition, next - 1))
            .filter(|&(partition, last)| committed[&partition].is_none_or(|known| last > known))
            .collect();
        if stored.is_empty() {
            tracing::info!("batch already in the table; nothing to write");
            self.dedup.commit_pending(self.staged.newest());
            self.staged.clear();
            self.duplicates = 0;
            return Ok(());
        }
        if self.staged.overlaps(&committed) {
            tracing::info!("another writer committed part of the batch; writing the rest");
            self.staged.drop_committed(&committed)?;
        }
        if self.duplicates > 0 {
            tracing::info!(
                duplicates = self.duplicates,
                "event ids already written within the window were left out"
            );
        }
        self.reached(Stage::BeforeUpload);
        let held_bytes = self.staged.held_bytes();
        let adds = self.staged.upload(&self.table.object_store()).await?;
        self.reached(Stage::AfterUpload);
        let rows = self.staged.rows();
        let version = self.commit(&batch.topic, adds, &stored).await?;
        tracing::debug!(
            rows,
            held_bytes,
            version,
            remembered_ids = self.dedup.len(),
            "lake commit"
        );
        self.dedup.commit_pending(self.staged.newest());
        let dates = self.staged.dates();
        self.staged.clear();
        self.duplicates = 0;
        if self.compactor.enabled() {
            // Which partitions hold too many small files is read from the table's file list.
            let loaded = self.load_followed().await;
            if let Err(error) = loaded.and_then(|()| self.compactor.after_commit(&self.table, &dates)) {
                tracing::warn!(%error, "cannot start a compaction beside the writer");
            }
        }
        Ok(())
    }

    /// The last offset stored for `partition`: known from the commits the writer made and read,
    /// or else looked up: in the few commits since the loaded version when there are at most
    /// [`LOOKBACK`] (newest first; none of them storing it leaves the loaded version's value), or
    /// in the table loaded up to the followed version. Loading reads the table's whole file list,
    /// which a writer routing to many tables would then hold for each (DESIGN.md §8.6): a table's
    /// first batches often lack a partition or two that a later one brings.
    async fn last_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        if self.offsets.knows(topic, partition) {
            return self.offsets.last(&self.table, topic, partition).await;
        }
        if let (Some(loaded), Some(followed)) = (self.table.version(), self.followed)
            && loaded < followed
        {
            match self.stored_since(loaded, followed, topic, partition).await {
                Ok(Some(last)) => {
                    self.offsets.stored(topic, [(partition, last)]);
                    return Ok(Some(last));
                }
                Ok(None) => {}
                Err(Unread) => self.load_followed().await?,
            }
        }
        self.offsets.last(&self.table, topic, partition).await
    }

    /// The offset of `partition` stored by the newest commit after `loaded` up to `followed`
    /// that stored one (`None` when none did); `Unread` when there are more than [`LOOKBACK`]
    /// commits or one cannot be read.
    async fn stored_since(
        &self,
        loaded: u64,
        followed: u64,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, Unread> {
        if followed - loaded > LOOKBACK {
            return Err(Unread);
        }
        let app_id = self.offsets.app_id(topic, partition);
        for version in (loaded + 1..=followed).rev() {
            let entry = log_entry(&self.table, version).await.map_err(|_| Unread)?;
            if let Some(&last) = entry.offsets.get(&app_id) {
                return Ok(Some(last));
            }
        }
        Ok(None)
    }

    /// Brings the loaded table (its schema, offsets and file list) up to the followed version:
    /// the writer's own appends do not load it (see [`append`]).
    async fn load_followed(&mut self) -> Result<(), LakeError> {
        if let (Some(loaded), Some(followed)) = (self.table.version(), self.followed)
            && loaded < followed
        {
            self.table.update_incremental(Some(followed)).await?;
        }
        Ok(())
    }

    /// Commits `adds` with the offsets `stored` (partition, last offset) in one version built on
    /// the followed version, then reads the commits others made meanwhile, and keeps up the log.
    /// The loaded table's schema is the followed version's: a commit that changed it since
    /// makes this one conflict, and the write retries on the reloaded table.
    async fn commit(&mut self, topic: &str, adds: Vec<Add>, stored: &[(i32, i64)]) -> Result<u64, LakeError> {
        let appends = {
            let snapshot = self.table.snapshot()?;
            if !adds.is_empty() {
                ensure_evolved(&snapshot.schema())?;
            }
            can_append(self.table.log_store().as_ref(), snapshot.protocol())
        };
        let transactions: Vec<Transaction> = stored
            .iter()
            .map(|&(partition, last)| Transaction::new(self.offsets.app_id(topic, partition), last))
            .collect();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![PARTITION_COLUMN.into()]),
            predicate: None,
        };
        let version = match self.followed {
            Some(base) if appends => {
                let log_store = self.table.log_store();
                append(
                    log_store.as_ref(),
                    base,
                    adds,
                    transactions,
                    operation,
                    COMMIT_ATTEMPTS,
                )
                .await?
            }
            _ => {
                self.commit_through_delta_rs(adds, transactions, operation)
                    .await?
            }
        };
        self.follow(version.checked_sub(1), false).await?;
        self.offsets.stored(topic, stored.iter().copied());
        self.followed = Some(version);
        self.reached(Stage::AfterCommit);
        if let Err(error) = self.upkeep.after_commit(&self.table, version).await {
            tracing::warn!(%error, version, "cannot write the checkpoint or clean up the log; the next commit tries again");
        }
        Ok(version)
    }

    /// Commits through delta-rs, on the loaded table brought up to the followed version, for
    /// tables and stores [`append`] does not commit to.
    async fn commit_through_delta_rs(
        &mut self,
        adds: Vec<Add>,
        transactions: Vec<Transaction>,
        operation: DeltaOperation,
    ) -> Result<u64, LakeError> {
        self.load_followed().await?;
        // Checkpoints and log cleanup are the writer's own (see `Upkeep`), after the commit.
        let properties = CommitProperties::default()
            .with_application_transactions(transactions)
            .with_create_checkpoint(false)
            .with_cleanup_expired_logs(Some(false))
            .with_max_retries(COMMIT_ATTEMPTS);
        let committed = CommitBuilder::from(properties)
            .with_actions(adds.into_iter().map(Action::Add).collect())
            .build(Some(self.table.snapshot()?), self.table.log_store(), operation)
            .await?;
        let version = committed.version();
        self.table.state = Some(committed.snapshot());
        Ok(version)
    }
}
