//! A user's rows, for the GDPR: [`export_user`] reads every row of a user, [`delete_user`]
//! removes them from the table's latest version. Older versions keep the rows until `vacuum` deletes the
//! files they live in, which it does only past the restore window: erasure is complete once the
//! window has passed and vacuum has run (the report says when).

use chrono::{DateTime, Duration, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::prelude::{Expr, SessionContext, col, lit};
use serde::Serialize;

use crate::error::LakeError;
use crate::ops::restore::RESTORE_WINDOW_HOURS;
use crate::table::conflict::ConflictRetries;
use crate::table::user_metadata::commit_properties;

/// Whose rows: a `user_id`, optionally only within one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The `user_id` the app sent.
    pub user_id: String,
    /// Only this project's rows of the user.
    pub project_id: Option<String>,
}

impl User {
    fn predicate(&self) -> Expr {
        let user = col("user_id").eq(lit(self.user_id.clone()));
        match &self.project_id {
            Some(project) => user.and(col("project_id").eq(lit(project.clone()))),
            None => user,
        }
    }
}

/// The user's rows in the table's loaded version.
pub async fn export_user(table: &DeltaTable, user: &User) -> Result<Vec<RecordBatch>, LakeError> {
    let context = SessionContext::new();
    table.update_datafusion_session(&context.state())?;
    let rows = context
        .read_table(table.table_provider().await?)?
        .filter(user.predicate())?
        .sort(vec![col("timestamp").sort(true, false)])?;
    Ok(rows.collect().await?)
}

/// How `delete_user` erases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseOptions {
    /// The restore window: vacuum removes the rows from history this long after the deletion.
    pub restore_window: Duration,
    /// Only count the rows.
    pub dry_run: bool,
    /// Recorded in the commit's `commitInfo.userMetadata` (who erased, and why).
    pub user_metadata: Option<String>,
}

impl Default for EraseOptions {
    fn default() -> Self {
        Self {
            restore_window: Duration::hours(RESTORE_WINDOW_HOURS),
            dry_run: false,
            user_metadata: None,
        }
    }
}

/// What `delete-user` did or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub dry_run: bool,
    pub rows: usize,
    pub files_removed: usize,
    pub files_added: usize,
    /// The version without the rows (`None` in a dry run or when there was nothing to delete).
    pub new_version: Option<u64>,
    /// Versions before `new_version` still hold the rows until vacuum removes their files, which
    /// it may from this time on (the restore window after the deletion).
    pub erased_from_history_after: Option<DateTime<Utc>>,
}

/// Removes the user's rows from the latest version (one commit), retried when a concurrent
/// commit conflicts. A dry run counts them.
pub async fn delete_user(
    table: DeltaTable,
    user: &User,
    options: &EraseOptions,
) -> Result<Erased, LakeError> {
    let mut table = table;
    let &EraseOptions {
        restore_window,
        dry_run,
        ref user_metadata,
    } = options;
    let rows: usize = export_user(&table, user)
        .await?
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    let mut erased = Erased {
        dry_run,
        rows,
        files_removed: 0,
        files_added: 0,
        new_version: None,
        erased_from_history_after: None,
    };
    if dry_run || rows == 0 {
        return Ok(erased);
    }
    let mut retries = ConflictRetries::new("delete-user");
    let (deleted, metrics) = loop {
        let deleted = table
            .clone()
            .delete()
            .with_predicate(user.predicate())
            .with_commit_properties(commit_properties(user_metadata.as_deref()))
            .await
            .map_err(LakeError::from);
        if !retries.again(&deleted) {
            break deleted?;
        }
        table.update_state().await?;
    };
    erased.rows = metrics.num_deleted_rows.unwrap_or(rows);
    erased.files_removed = metrics.num_removed_files;
    erased.files_added = metrics.num_added_files;
    erased.new_version = deleted.version();
    erased.erased_from_history_after = Some(Utc::now() + restore_window);
    Ok(erased)
}
