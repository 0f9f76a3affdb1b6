//! `verify`: checks that the table's latest version is whole and as the writer means it: every
//! data file it references is in the store at its recorded size, its schema is one the writer
//! writes (the events schema, but for nullable columns the next commit adds and nullable columns
//! a newer writer added), and no `event_id` is in it twice. What it finds is a list of problems; none means the
//! table is sound. It also reports the log's size and its last checkpoint (how many commits and
//! how long ago), which tell whether the log is kept tidy.

use deltalake::DeltaTable;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use lakehouse_progress::Phase;

use crate::error::LakeError;
use crate::table::checkpoint::{Checkpoint, LogSize, last_checkpoint, log_size};
use crate::table::evolve::plan;
use crate::table::query::query;

/// How many files are checked at once.
const CONCURRENT_CHECKS: usize = 16;

/// A data file whose object differs from what the log says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadFile {
    pub path: String,
    pub recorded_size: i64,
    /// `None` when the object is missing.
    pub actual_size: Option<u64>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub version: u64,
    pub files: usize,
    pub bytes: i64,
    /// `None` when a file is bad: the rows cannot be read then.
    pub rows: Option<i64>,
    pub bad_files: Vec<BadFile>,
    /// Why the writer refuses the table's schema (a retyped column, a required one missing or
    /// unknown); `None` when it writes it.
    pub schema_error: Option<String>,
    /// Nullable columns of the events schema the table lacks: the writer adds them at its next
    /// commit (a table written before they were added, or restored to before).
    pub columns_to_add: Vec<String>,
    /// Nullable columns of the table the events schema lacks (a newer writer added them): kept,
    /// null in the rows this writer writes.
    pub unknown_columns: Vec<String>,
    /// Rows beyond the first of each `event_id`: 0 unless an event came again after the
    /// deduplication window (a recreated topic re-read from its start). `None` with `rows`.
    pub duplicate_rows: Option<i64>,
    /// What `_delta_log` holds now (all versions, not only the one checked).
    pub log: LogSize,
    /// The last checkpoint, if any.
    pub last_checkpoint: Option<Checkpoint>,
    /// Commits after the last checkpoint up to the version checked, which a reader replays.
    pub commits_since_checkpoint: u64,
    /// How long ago the last checkpoint was written, in seconds.
    pub checkpoint_age_seconds: Option<i64>,
}

impl Verified {
    /// Every problem found, one sentence each; empty when the table is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .bad_files
            .iter()
            .map(|file| match file.actual_size {
                None => format!(
                    "{} is referenced by version {} but missing from the store",
                    file.path, self.version
                ),
                Some(size) => format!(
                    "{} is {size} bytes in the store but {} in the log",
                    file.path, file.recorded_size
                ),
            })
            .collect();
        if let Some(error) = &self.schema_error {
            problems.push(format!("the table's schema: {error}"));
        }
        if let Some(duplicates) = self.duplicate_rows.filter(|&n| n > 0) {
            problems.push(format!(
                "{duplicates} rows repeat an event_id already in the table"
            ));
        }
        problems
    }
}

/// Checks the loaded version of `table`.
pub async fn verify(table: &DeltaTable) -> Result<Verified, LakeError> {
    let snapshot = table.snapshot()?;
    let files: Vec<(Path, i64)> = snapshot
        .log_data()
        .iter()
        .map(|file| (file.object_store_path(), file.size()))
        .collect();
    let store = table.object_store();
    let mut progress = Phase::start("verify: files checked", "files", Some(files.len() as u64));
    let mut checks = futures::stream::iter(files.iter().cloned())
        .map(|(path, recorded_size)| {
            let store = store.clone();
            async move {
                match store.head(&path).await {
                    Ok(meta) if meta.size == recorded_size as u64 => Ok(None),
                    Ok(meta) => Ok(Some(BadFile {
                        path: path.to_string(),
                        recorded_size,
                        actual_size: Some(meta.size),
                    })),
                    Err(deltalake::logstore::object_store::Error::NotFound { .. }) => Ok(Some(BadFile {
                        path: path.to_string(),
                        recorded_size,
                        actual_size: None,
                    })),
                    Err(error) => Err(deltalake::DeltaTableError::from(error)),
                }
            }
        })
        .buffer_unordered(CONCURRENT_CHECKS);
    let mut bad_files = Vec::new();
    while let Some(checked) = checks.try_next().await? {
        progress.add(1);
        bad_files.extend(checked);
    }
    progress.finish();
    bad_files.sort_by(|a, b| a.path.cmp(&b.path));

    let (schema_error, columns_to_add, unknown_columns) = match plan(&snapshot.schema()) {
        Ok(evolution) => (
            None,
            evolution.missing.iter().map(|f| f.name().clone()).collect(),
            evolution.unknown,
        ),
        Err(error) => (Some(error.to_string()), Vec::new(), Vec::new()),
    };

    let (rows, duplicate_rows) = if bad_files.is_empty() {
        let (rows, ids) = row_and_id_counts(table).await?;
        (Some(rows), Some(rows - ids))
    } else {
        (None, None)
    };
    let version = table.version().unwrap_or(0);
    let checkpoint = last_checkpoint(table).await?;
    Ok(Verified {
        version,
        log: log_size(table).await?,
        commits_since_checkpoint: checkpoint.map_or(version, |c| version.saturating_sub(c.version)),
        checkpoint_age_seconds: checkpoint.map(|c| (chrono::Utc::now() - c.written).num_seconds()),
        last_checkpoint: checkpoint,
        files: files.len(),
        bytes: files.iter().map(|(_, size)| size).sum(),
        rows,
        bad_files,
        schema_error,
        columns_to_add,
        unknown_columns,
        duplicate_rows,
    })
}

/// The table's rows and distinct `event_id`s.
async fn row_and_id_counts(table: &DeltaTable) -> Result<(i64, i64), LakeError> {
    let counts = query(table, "SELECT count(*), count(DISTINCT event_id) FROM events").await?;
    let column = |index: usize| {
        counts.first().map_or(0, |batch| {
            batch.column(index).as_primitive::<Int64Type>().value(0)
        })
    };
    Ok((column(0), column(1)))
}
