//! The log's upkeep after a commit (DESIGN.md §8.2): a checkpoint at every
//! `delta.checkpointInterval`-th version, also when the commit that was due to write it crashed
//! first (the next commit sees that the last checkpoint is older than the last due version and
//! writes one), and, after each checkpoint, the removal of log files older than
//! `delta.logRetentionDuration` that no version within it needs. What the log holds is reported
//! by [`log_size`] and [`last_checkpoint`].

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use deltalake::protocol::checkpoints::cleanup_expired_logs_for;
use deltalake::table::config::TablePropertiesExt;
use futures::TryStreamExt;
use serde::Serialize;

use crate::error::LakeError;

/// The last checkpoint the log names (`_delta_log/_last_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub version: u64,
    /// When `_last_checkpoint` was written.
    pub written: DateTime<Utc>,
}

/// The size of `_delta_log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogSize {
    /// Commit files (`<version>.json`).
    pub commits: usize,
    /// Checkpoint files.
    pub checkpoints: usize,
    /// Every file of the log, in bytes.
    pub bytes: u64,
}

fn log_path(name: &str) -> Path {
    Path::from(format!("_delta_log/{name}"))
}

/// The last checkpoint, if the table has one.
pub async fn last_checkpoint(table: &DeltaTable) -> Result<Option<Checkpoint>, LakeError> {
    let store = table.object_store();
    let got = match store.get(&log_path("_last_checkpoint")).await {
        Ok(got) => got,
        Err(deltalake::logstore::object_store::Error::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(deltalake::DeltaTableError::from(error).into()),
    };
    let written = got.meta.last_modified;
    let bytes = got.bytes().await.map_err(deltalake::DeltaTableError::from)?;
    // A hint that cannot be read is treated as absent, as Delta readers do: they list the log.
    let hint: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(hint["version"]
        .as_u64()
        .map(|version| Checkpoint { version, written }))
}

/// What `_delta_log` holds.
pub async fn log_size(table: &DeltaTable) -> Result<LogSize, LakeError> {
    let store = table.object_store();
    let files: Vec<_> = store
        .list(Some(&log_path("")))
        .try_collect()
        .await
        .map_err(deltalake::DeltaTableError::from)?;
    let name = |meta: &deltalake::ObjectMeta| meta.location.filename().unwrap_or_default().to_string();
    Ok(LogSize {
        commits: files.iter().filter(|m| name(m).ends_with(".json")).count(),
        checkpoints: files.iter().filter(|m| name(m).contains(".checkpoint.")).count(),
        bytes: files.iter().map(|m| m.size).sum(),
    })
}

/// Writes the checkpoint of `version` by delta-kernel's replay of the log, which passes each
/// file's statistics through as the log holds them. (delta-rs's `create_checkpoint` checkpoints
/// the version a loaded table is at, and loading it parses every live file's statistics: for a
/// table of 10^4 files, hundreds of MiB at once.)
async fn write_checkpoint(table: &DeltaTable, version: u64) -> Result<(), LakeError> {
    let log_store = table.log_store();
    let root = log_store.transaction_url(None)?;
    let engine = log_store.engine(None);
    let written = tokio::task::spawn_blocking(move || {
        let snapshot = delta_kernel::Snapshot::builder_for(root)
            .at_version(version)
            .build(engine.as_ref())?;
        snapshot.checkpoint(engine.as_ref(), None).map(|_| ())
    })
    .await
    .map_err(|join| LakeError::Operation(Box::new(join)))?;
    written.map_err(deltalake::DeltaTableError::from)?;
    Ok(())
}

/// The version a checkpoint was last due at, at or before `version` (the delta-rs convention:
/// versions `interval - 1`, `2 * interval - 1`, ...).
fn last_due(version: u64, interval: u64) -> Option<u64> {
    ((version + 1) / interval * interval).checked_sub(1)
}

/// Writes the checkpoints the writer's commits are due, and cleans up the log after them.
#[derive(Debug, Default)]
pub(crate) struct Upkeep {
    /// The last checkpoint known to exist (ours or, read from the log, another writer's).
    known: Option<u64>,
}

impl Upkeep {
    /// After the commit of `version` to `table` (loaded at that version or an earlier one): a
    /// checkpoint of this version when one was due at it or since the last checkpoint, then the
    /// expired log files removed.
    pub(crate) async fn after_commit(&mut self, table: &DeltaTable, version: u64) -> Result<(), LakeError> {
        let Ok(snapshot) = table.snapshot() else {
            return Ok(());
        };
        let config = snapshot.table_config();
        let (interval, retention, cleanup) = (
            config.checkpoint_interval().get(),
            config.log_retention_duration(),
            config.enable_expired_log_cleanup(),
        );
        let Some(due) = last_due(version, interval) else {
            return Ok(());
        };
        if self.known.is_some_and(|known| known >= due) {
            return Ok(());
        }
        // Another writer may have written it: the log says.
        self.known = last_checkpoint(table).await?.map(|c| c.version);
        if self.known.is_some_and(|known| known >= due) {
            return Ok(());
        }
        if due < version {
            tracing::info!(
                version,
                due,
                "the checkpoint due at an earlier version is missing (a writer crashed before writing it); writing one now"
            );
        }
        write_checkpoint(table, version).await?;
        self.known = Some(version);
        let cutoff = Utc::now().timestamp_millis() - retention.as_millis() as i64;
        if cleanup {
            let removed = cleanup_expired_logs_for(version, table.log_store().as_ref(), cutoff, None).await?;
            tracing::debug!(version, removed, "checkpoint written, expired log files removed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_due_at_every_interval_th_version() {
        assert_eq!(last_due(0, 100), None);
        assert_eq!(last_due(98, 100), None);
        assert_eq!(last_due(99, 100), Some(99));
        assert_eq!(last_due(150, 100), Some(99));
        assert_eq!(last_due(199, 100), Some(199));
        assert_eq!(last_due(5, 3), Some(5));
        assert_eq!(last_due(4, 3), Some(2));
        assert_eq!(last_due(7, 1), Some(7));
    }
}
