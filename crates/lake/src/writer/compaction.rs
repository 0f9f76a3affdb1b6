//! Compaction beside the writer (opt-in, DESIGN.md §8.5): after a commit, each `event_date`
//! partition the commit wrote to that now holds more than `small_files` files smaller than the
//! target size is compacted in the background, one run at a time, while the writer goes on.
//! Appends do not conflict with a compaction (it only rewrites files, `dataChange = false`).
//! Compactions take turns through the claim in the log ([`crate::table::claim`]): a writer that finds
//! it held skips its turn.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use deltalake::DeltaTable;
use tokio::task::JoinHandle;

use crate::error::LakeError;
use crate::table::claim::{self, Claim};
use crate::table::encode::writer_properties;
use crate::table::rewrite::{DEFAULT_TARGET_SIZE, Optimized, compact};
use crate::table::schema::PARTITION_COLUMN;

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

    /// True when the writer compacts at all.
    pub(crate) fn enabled(&self) -> bool {
        self.options.small_files > 0
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

/// Compacts `dates` if this writer gets the claim; does nothing (and says so) otherwise.
async fn compact_in_turn(
    mut table: DeltaTable,
    target: u64,
    dates: &[NaiveDate],
) -> Result<Optimized, LakeError> {
    let claim = match claim::take(&mut table).await? {
        Ok(claim) => claim,
        Err(since) => {
            tracing::info!(dates = ?dates, %since, "another compaction holds the claim; this writer skips its turn");
            return Ok(Optimized {
                files_removed: 0,
                files_added: 0,
                partitions_optimized: 0,
                new_version: None,
            });
        }
    };
    compact_dates(table, target, dates, claim).await
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

/// Rows per row group of the files the writer's compaction writes: the compacting task holds
/// about one row group, encoded, at a time.
const COMPACTION_ROW_GROUP_ROWS: usize = 128 * 1024;

/// Compacts only the `event_date` partitions `dates`, one file at a time, holding about one row
/// group: the writer's compaction (see [`crate::CompactionOptions`]), under its `claim`.
async fn compact_dates(
    table: DeltaTable,
    target_size: u64,
    dates: &[NaiveDate],
    claim: Claim,
) -> Result<Optimized, LakeError> {
    let days: Vec<String> = dates.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect();
    let properties = writer_properties()
        .set_max_row_group_row_count(Some(COMPACTION_ROW_GROUP_ROWS))
        .build();
    compact(table, &days, target_size, properties, None, claim).await
}
