//! `vacuum`: deletes the data files no version within the retention still needs, never inside the
//! restore window.

use chrono::Duration;
use deltalake::DeltaTable;
use serde::Serialize;

use crate::error::{LakeError, fold_into_lake_error};
use crate::ops::restore::RESTORE_WINDOW_HOURS;
use crate::table::user_metadata::commit_properties;

/// What to keep, and whether to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumOptions {
    /// Keep every file a version of this last stretch of time needs.
    pub retention: Duration,
    /// Refuse a retention shorter than this: every version inside it must stay restorable.
    pub restore_window: Duration,
    /// Only list the files that would be deleted.
    pub dry_run: bool,
    /// Recorded in the vacuum's commits' `commitInfo.userMetadata` (who vacuumed, and why).
    pub user_metadata: Option<String>,
}

impl Default for VacuumOptions {
    /// The restore window as retention, for real.
    fn default() -> Self {
        Self {
            retention: Duration::hours(RESTORE_WINDOW_HOURS),
            restore_window: Duration::hours(RESTORE_WINDOW_HOURS),
            dry_run: false,
            user_metadata: None,
        }
    }
}

/// A retention vacuum refuses.
#[derive(Debug, thiserror::Error)]
pub enum VacuumError {
    #[error(
        "a vacuum retention of {retention_hours} h is shorter than the restore window of {window_hours} h: \
         versions inside the window could no longer be restored; keep at least {window_hours} h \
         (RESTORE_WINDOW_HOURS)"
    )]
    InsideRestoreWindow { retention_hours: i64, window_hours: i64 },
}

fold_into_lake_error!(VacuumError);

/// What `vacuum` deleted or would delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vacuumed {
    pub dry_run: bool,
    pub retention_hours: i64,
    pub files: Vec<String>,
}

/// Deletes data files no version within `options.retention` still needs.
pub async fn vacuum(table: DeltaTable, options: &VacuumOptions) -> Result<Vacuumed, LakeError> {
    let &VacuumOptions {
        retention,
        restore_window,
        dry_run,
        ref user_metadata,
    } = options;
    if retention < restore_window {
        return Err(VacuumError::InsideRestoreWindow {
            retention_hours: retention.num_hours(),
            window_hours: restore_window.num_hours(),
        }
        .into());
    }
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(retention)
        // Our restore window is the guard (checked above), not the table property.
        .with_enforce_retention_duration(false)
        .with_dry_run(dry_run)
        .with_commit_properties(commit_properties(user_metadata.as_deref()))
        .await?;
    Ok(Vacuumed {
        dry_run,
        retention_hours: retention.num_hours(),
        files: metrics.files_deleted,
    })
}
