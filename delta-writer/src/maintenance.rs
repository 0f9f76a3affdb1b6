//! The lake tooling that changes or describes the table as a whole: `history`, `restore`,
//! `vacuum`, `optimize`. Each reports what it did (or, in a dry run, would do) as a value the
//! command prints and tests check.

use std::future::{Future, IntoFuture};

use chrono::{DateTime, Duration, TimeZone, Utc};
use deltalake::kernel::transaction::TransactionError;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use deltalake::operations::optimize::OptimizeType;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use serde::Serialize;

use crate::lake::LakeError;

/// One commit of the table's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub version: u64,
    /// When the commit became visible: its log file's time, which `--as-of` compares with (the
    /// time in the commit's own record is taken before the file is written, a little earlier).
    pub timestamp: Option<DateTime<Utc>>,
    pub operation: String,
    /// Rows and files the commit added, when the writer recorded them.
    pub metrics: serde_json::Value,
}

/// The newest `limit` commits (all when `None`), newest first.
pub async fn history(table: &DeltaTable, limit: Option<usize>) -> Result<Vec<Commit>, LakeError> {
    let latest = table.version().unwrap_or(0);
    let infos: Vec<_> = table.history(limit).try_collect().await?;
    let store = table.log_store().object_store(None);
    let mut commits = Vec::with_capacity(infos.len());
    for (index, info) in infos.into_iter().enumerate() {
        let version = latest.saturating_sub(index as u64);
        let log_file = Path::from(format!("_delta_log/{version:020}.json"));
        let written = match store.head(&log_file).await {
            Ok(meta) => Some(meta.last_modified),
            Err(_) => info
                .timestamp
                .and_then(|millis| Utc.timestamp_millis_opt(millis).single()),
        };
        commits.push(Commit {
            version,
            timestamp: written,
            operation: info.operation.unwrap_or_default(),
            metrics: info
                .info
                .get("operationMetrics")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        });
    }
    Ok(commits)
}

/// What `restore` did or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    pub from_version: u64,
    pub to_version: u64,
    /// The version the restore committed (`None` in a dry run).
    pub new_version: Option<u64>,
    pub files_removed: usize,
    pub files_added: usize,
}

/// Makes the latest version of `table` equal to `target` (a table loaded at an older version),
/// as a new commit: history stays, and the restore itself can be undone the same way. A dry run
/// only counts the files that would change.
pub async fn restore(table: DeltaTable, target: &DeltaTable, dry_run: bool) -> Result<Restored, LakeError> {
    let from_version = table.version().unwrap_or(0);
    let to_version = target.version().unwrap_or(0);
    let now: std::collections::HashSet<String> = file_paths(&table).await?;
    let then: std::collections::HashSet<String> = file_paths(target).await?;
    let mut restored = Restored {
        from_version,
        to_version,
        new_version: None,
        files_removed: now.difference(&then).count(),
        files_added: then.difference(&now).count(),
    };
    if dry_run {
        return Ok(restored);
    }
    let (table, _metrics) = table.restore().with_version_to_restore(to_version).await?;
    restored.new_version = table.version();
    Ok(restored)
}

async fn file_paths(table: &DeltaTable) -> Result<std::collections::HashSet<String>, LakeError> {
    Ok(table
        .get_file_uris()?
        .collect::<std::collections::HashSet<String>>())
}

/// What `vacuum` deleted or would delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vacuumed {
    pub dry_run: bool,
    pub retention_hours: i64,
    pub files: Vec<String>,
}

/// Deletes data files no version within `retention` still needs. Refuses a retention shorter
/// than `restore_window`: every version inside the window must stay restorable.
pub async fn vacuum(
    table: DeltaTable,
    retention: Duration,
    restore_window: Duration,
    dry_run: bool,
) -> Result<Vacuumed, LakeError> {
    if retention < restore_window {
        return Err(LakeError::Refused(format!(
            "a vacuum retention of {} h is shorter than the restore window of {} h: versions inside \
             the window could no longer be restored; keep at least {} h (RESTORE_WINDOW_HOURS)",
            retention.num_hours(),
            restore_window.num_hours(),
            restore_window.num_hours()
        )));
    }
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(retention)
        // Our restore window is the guard (checked above), not the table property.
        .with_enforce_retention_duration(false)
        .with_dry_run(dry_run)
        .await?;
    Ok(Vacuumed {
        dry_run,
        retention_hours: retention.num_hours(),
        files: metrics.files_deleted,
    })
}

/// How often an operation is retried when a concurrent commit conflicts with it.
const CONFLICT_RETRIES: u32 = 5;

/// Runs `operation` on `table`, and again on a reloaded table when another commit conflicts
/// with it (another optimize or delete removed files it rewrote), up to [`CONFLICT_RETRIES`]
/// times. Appends never conflict with these operations: they only add files.
pub(crate) async fn retry_on_conflict<T, F, Fut>(
    table: &mut DeltaTable,
    label: &str,
    mut operation: F,
) -> Result<T, LakeError>
where
    F: FnMut(DeltaTable) -> Fut,
    Fut: Future<Output = Result<T, DeltaTableError>>,
{
    let mut conflicts = 0;
    loop {
        match operation(table.clone()).await {
            Err(DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(conflict),
            }) if conflicts < CONFLICT_RETRIES => {
                conflicts += 1;
                tracing::warn!(%conflict, conflicts, "{label}: a concurrent commit conflicted; reloading and retrying");
                table.update_state().await?;
            }
            result => return Ok(result?),
        }
    }
}

/// What `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Optimized {
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions_optimized: u64,
    pub new_version: Option<u64>,
}

/// Compacts small files into files of about `target_size` bytes, per partition; with `zorder`
/// columns, also rewrites each partition's rows in Z-order over them, so that readers filtering
/// on those columns skip most files. The commit carries `dataChange = false`, so streaming
/// readers ignore it; running writers are unaffected (appends do not conflict with it) and a
/// concurrent optimize or delete makes it retry.
pub async fn optimize(
    table: DeltaTable,
    target_size: u64,
    zorder: &[String],
) -> Result<Optimized, LakeError> {
    let target = std::num::NonZeroU64::new(target_size).unwrap_or(std::num::NonZeroU64::MIN);
    let kind = || {
        if zorder.is_empty() {
            OptimizeType::Compact
        } else {
            OptimizeType::ZOrder(zorder.to_vec())
        }
    };
    let mut table = table;
    let (table, metrics) = retry_on_conflict(&mut table, "optimize", |table| {
        table
            .optimize()
            .with_target_size(target)
            .with_type(kind())
            .into_future()
    })
    .await?;
    Ok(Optimized {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        partitions_optimized: metrics.partitions_optimized,
        new_version: table.version(),
    })
}
