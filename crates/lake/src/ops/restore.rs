//! `restore`: makes an older version the latest, as a new commit. The restore window is how far
//! back that must stay possible: vacuum keeps every file its versions need.

use std::collections::HashSet;

use deltalake::DeltaTable;
use serde::Serialize;

use crate::error::LakeError;
use crate::table::user_metadata::commit_properties;

/// How many hours of versions stay restorable: vacuum refuses a shorter retention, and a user's
/// deleted rows leave history this long after the deletion.
pub const RESTORE_WINDOW_HOURS: i64 = 168;

/// How to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Only count the files that would change.
    pub dry_run: bool,
    /// Recorded in the commit's `commitInfo.userMetadata` (who restored, and why).
    pub user_metadata: Option<String>,
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
pub async fn restore(
    table: DeltaTable,
    target: &DeltaTable,
    options: &RestoreOptions,
) -> Result<Restored, LakeError> {
    let from_version = table.version().unwrap_or(0);
    let to_version = target.version().unwrap_or(0);
    let now = file_paths(&table)?;
    let then = file_paths(target)?;
    let mut restored = Restored {
        from_version,
        to_version,
        new_version: None,
        files_removed: now.difference(&then).count(),
        files_added: then.difference(&now).count(),
    };
    if options.dry_run {
        return Ok(restored);
    }
    let (table, _metrics) = table
        .restore()
        .with_version_to_restore(to_version)
        .with_commit_properties(commit_properties(options.user_metadata.as_deref()))
        .await?;
    restored.new_version = table.version();
    Ok(restored)
}

fn file_paths(table: &DeltaTable) -> Result<HashSet<String>, LakeError> {
    Ok(table.get_file_uris()?.collect())
}
