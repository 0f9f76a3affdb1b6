//! Compaction beside the writer (opt-in, DESIGN.md §8.5): after a commit, each `event_date`
//! partition the commit wrote to that now holds more than `small_files` files smaller than the
//! target size is compacted in the background, one run at a time, while the writer goes on.
//! Appends do not conflict with a compaction (it only rewrites files, `dataChange = false`).
//!
//! Two compactions of the same files must not both commit: each would add its own copy of the
//! rows. delta-rs lets two commits that remove the same files with `dataChange = false` both
//! through, so the writers' compactions take turns through a **claim in the log**: a `txn`
//! action of the app id [`CLAIM_APP_ID`], committed before compacting (an odd version: held,
//! since `(version - 1) / 2` ms) and after (the next, even version: free). Two claims made at
//! once conflict in Delta's own check (a concurrent transaction on the same app id), so one
//! writer wins and the other skips its turn; a claim held longer than [`CLAIM_EXPIRY`] belonged
//! to a writer that died and is taken over.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::protocol::{DeltaOperation, SaveMode};
use tokio::task::JoinHandle;

use crate::error::LakeError;
use crate::optimize::{DEFAULT_TARGET_SIZE, Optimized, compact_dates};
use crate::schema::PARTITION_COLUMN;

/// When the writer compacts the partitions it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionOptions {
    /// Compact a partition once it holds more than this many small files; 0: never.
    pub small_files: usize,
    /// Files below this size are small; compaction writes files of about this size.
    pub target_size: u64,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        Self {
            small_files: 0,
            target_size: DEFAULT_TARGET_SIZE,
        }
    }
}

/// The writer's background compaction.
#[derive(Debug, Default)]
pub(crate) struct Compactor {
    options: CompactionOptions,
    running: Option<JoinHandle<Result<Optimized, LakeError>>>,
}

impl Compactor {
    pub(crate) fn new(options: CompactionOptions) -> Self {
        Self {
            options,
            running: None,
        }
    }

    /// After a commit to `dates`: starts a compaction of those with too many small files, unless
    /// one is still running.
    pub(crate) fn after_commit(&mut self, table: &DeltaTable, dates: &[NaiveDate]) -> Result<(), LakeError> {
        if self.options.small_files == 0 || dates.is_empty() {
            return Ok(());
        }
        if self.running.as_ref().is_some_and(|task| !task.is_finished()) {
            return Ok(());
        }
        if let Some(task) = self.running.take() {
            report(futures::FutureExt::now_or_never(task).map(joined));
        }
        let small = small_files(table, self.options.target_size)?;
        let due: Vec<NaiveDate> = dates
            .iter()
            .copied()
            .filter(|date| small.get(date).copied().unwrap_or(0) > self.options.small_files)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        tracing::info!(dates = ?due, small_files = self.options.small_files, "compacting the partitions the writer fills");
        let (table, target) = (table.clone(), self.options.target_size);
        self.running = Some(tokio::spawn(
            async move { compact_in_turn(table, target, &due).await },
        ));
        Ok(())
    }

    /// Waits for the running compaction, if any, and returns what it did.
    pub(crate) async fn finished(&mut self) -> Option<Result<Optimized, LakeError>> {
        let task = self.running.take()?;
        Some(joined(task.await))
    }
}

/// The `txn` app id of the writers' compaction claim.
pub(crate) const CLAIM_APP_ID: &str = "lakehouse.compaction";

/// A claim held this long belonged to a writer that died: another may take it over.
const CLAIM_EXPIRY: chrono::Duration = chrono::Duration::minutes(30);

/// Compacts `dates` if this writer wins the claim; does nothing (and says so) otherwise.
async fn compact_in_turn(
    mut table: DeltaTable,
    target: u64,
    dates: &[NaiveDate],
) -> Result<Optimized, LakeError> {
    let Some(claim) = claim(&mut table).await? else {
        tracing::info!(dates = ?dates, "another writer is compacting; this one skips its turn");
        return Ok(Optimized {
            files_removed: 0,
            files_added: 0,
            partitions_optimized: 0,
            new_version: None,
        });
    };
    let compacted = compact_dates(table.clone(), target, dates).await;
    table.update_state().await?;
    if let Err(error) = commit_claim(&table, claim + 1).await {
        // Taken over meanwhile (the claim expired), or the store failed: the claim expires.
        tracing::warn!(%error, "cannot release the compaction claim; it expires in {} minutes", CLAIM_EXPIRY.num_minutes());
    }
    compacted
}

/// Takes the claim unless another writer holds it: the claim's odd version, or `None`.
async fn claim(table: &mut DeltaTable) -> Result<Option<i64>, LakeError> {
    table.update_state().await?;
    let held = table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), CLAIM_APP_ID)
        .await?;
    let now = Utc::now().timestamp_millis();
    if let Some(version) = held.filter(|version| version % 2 == 1) {
        let since = (version - 1) / 2;
        if now - since < CLAIM_EXPIRY.num_milliseconds() {
            return Ok(None);
        }
        tracing::warn!(since, "taking over a compaction claim its writer never released");
    }
    let version = now * 2 + 1;
    match commit_claim(table, version).await {
        Ok(()) => {
            table.update_state().await?;
            Ok(Some(version))
        }
        Err(error) if error.is_commit_conflict() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Commits the claim's `version` alone: no data, one `txn` action.
async fn commit_claim(table: &DeltaTable, version: i64) -> Result<(), LakeError> {
    let properties = CommitProperties::default()
        .with_application_transactions(vec![Transaction::new(CLAIM_APP_ID, version)])
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    CommitBuilder::from(properties)
        .build(Some(table.snapshot()?), table.log_store(), operation)
        .await?;
    Ok(())
}

/// A compaction task's result; a task that panicked is a failure.
fn joined(
    done: Result<Result<Optimized, LakeError>, tokio::task::JoinError>,
) -> Result<Optimized, LakeError> {
    done.unwrap_or_else(|join| Err(LakeError::Operation(Box::new(join))))
}

fn report(done: Option<Result<Optimized, LakeError>>) {
    match done {
        Some(Ok(optimized)) => tracing::info!(?optimized, "compaction beside the writer finished"),
        Some(Err(error)) => {
            tracing::warn!(%error, "compaction beside the writer failed; the next commit tries again")
        }
        None => {}
    }
}

/// How many files smaller than `target_size` each `event_date` partition holds.
pub(crate) fn small_files(
    table: &DeltaTable,
    target_size: u64,
) -> Result<BTreeMap<NaiveDate, usize>, LakeError> {
    let mut small = BTreeMap::new();
    for file in table.snapshot()?.log_data().iter() {
        if file.size() as u64 >= target_size {
            continue;
        }
        let date = file
            .partition_values_map()
            .get(PARTITION_COLUMN)
            .cloned()
            .flatten()
            .and_then(|day| NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok());
        if let Some(date) = date {
            *small.entry(date).or_default() += 1;
        }
    }
    Ok(small)
}
