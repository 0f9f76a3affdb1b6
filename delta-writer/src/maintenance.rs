//! The lake tooling that changes or describes the table as a whole: `history`, `restore`,
//! `vacuum`, `optimize`. Each reports what it did (or, in a dry run, would do) as a value the
//! command prints and tests check.

use chrono::{DateTime, Duration, TimeZone, Utc};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use serde::Serialize;

use crate::lake::LakeError;

/// One commit of the table's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub version: u64,
    pub timestamp: Option<DateTime<Utc>>,
    pub operation: String,
    /// Rows and files the commit added, when the writer recorded them.
    pub metrics: serde_json::Value,
}

/// The newest `limit` commits (all when `None`), newest first.
pub async fn history(table: &DeltaTable, limit: Option<usize>) -> Result<Vec<Commit>, LakeError> {
    let latest = table.version().unwrap_or(0);
    let infos: Vec<_> = table.history(limit).try_collect().await?;
    Ok(infos
        .into_iter()
        .enumerate()
        .map(|(index, info)| Commit {
            version: latest.saturating_sub(index as u64),
            timestamp: info
                .timestamp
                .and_then(|millis| Utc.timestamp_millis_opt(millis).single()),
            operation: info.operation.unwrap_or_default(),
            metrics: info
                .info
                .get("operationMetrics")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        })
        .collect())
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

/// What `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Optimized {
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions_optimized: u64,
    pub new_version: Option<u64>,
}

/// Compacts small files into files of about `target_size` bytes, per partition. The commit
/// carries `dataChange = false`, so streaming readers ignore it; it conflicts only with commits
/// that remove the same files (another optimize), never with appends.
pub async fn optimize(table: DeltaTable, target_size: u64) -> Result<Optimized, LakeError> {
    let target = std::num::NonZeroU64::new(target_size).unwrap_or(std::num::NonZeroU64::MIN);
    let (table, metrics) = table.optimize().with_target_size(target).await?;
    Ok(Optimized {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        partitions_optimized: metrics.partitions_optimized,
        new_version: table.version(),
    })
}
