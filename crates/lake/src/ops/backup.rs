//! `backup`: copies the events table, its data files and its log, to a second location (another
//! bucket or store), so that losing the lake's bucket loses nothing the copy and the topic still
//! hold (docs/RUNBOOK.md, "the lake's bucket is gone"). The same copy the other way restores it.
//!
//! The copy is incremental and resumable: an object the copy already holds at the same size is
//! not copied again, so a run after an interrupted one, or a nightly run, copies only what is new.
//! It is a readable table at every moment of the copy: the log is listed first and the data files
//! after, so every data file a listed commit adds is in the listing (a commit is written after its
//! files); the data files are copied first, then the commits in version order, then
//! `_last_checkpoint`. A commit in the copy is never replaced: one that differs from the source's
//! means the copy was written to by someone else, and the backup stops and says so. Files the
//! source's vacuum removed stay in the copy until the copy's own vacuum removes them.

use std::collections::HashMap;

use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use lakehouse_progress::Phase;

use crate::error::{LakeError, fold_into_lake_error};
use crate::table::location::{LakeLocation, open_table};

/// How many objects are copied at once.
const CONCURRENT_COPIES: usize = 16;
/// Where the log is, under the table's root.
const LOG_DIR: &str = "_delta_log";
/// The pointer to the newest checkpoint: copied last, once what it points to is there.
const LAST_CHECKPOINT: &str = "_delta_log/_last_checkpoint";

/// What a backup copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackedUp {
    /// The newest table version the copy now holds.
    pub version: Option<u64>,
    /// Objects copied, and their bytes.
    pub copied_files: usize,
    pub copied_bytes: u64,
    /// Objects the copy already held at the same size.
    pub skipped_files: usize,
}

/// Why a backup stopped without copying everything.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no table at {0} to copy")]
    NoTable(String),
    #[error(
        "the copy's {path} differs from the source's ({copy} bytes, not {source_size}): the copy \
         was written to by something else; back up to an empty location"
    )]
    Diverged {
        path: String,
        copy: u64,
        source_size: u64,
    },
    #[error("object store: {0}")]
    Store(#[from] deltalake::logstore::object_store::Error),
}

fold_into_lake_error!(BackupError);

/// Copies the events table at `from` to `to` (see the module's doc).
pub async fn backup(from: &LakeLocation, to: &LakeLocation) -> Result<BackedUp, LakeError> {
    let source = open_table(from.events_url()?, from).await?;
    if source.version().is_none() {
        return Err(BackupError::NoTable(from.uri.clone()).into());
    }
    let copy = open_table(to.events_url()?, to).await?;
    let (source, copy) = (source.object_store(), copy.object_store());

    // The log first, then the rest: every file a listed commit adds is listed.
    let log_dir = Path::from(LOG_DIR);
    let mut log = list(source.as_ref(), Some(&log_dir)).await?;
    let data: Vec<ObjectMeta> = list(source.as_ref(), None)
        .await?
        .into_iter()
        .filter(|object| !object.location.as_ref().starts_with(LOG_DIR))
        .collect();
    let held: HashMap<Path, u64> = list(copy.as_ref(), None)
        .await?
        .into_iter()
        .map(|object| (object.location, object.size))
        .collect();

    let mut done = BackedUp::default();
    let (to_copy, same): (Vec<ObjectMeta>, Vec<ObjectMeta>) = data
        .into_iter()
        .partition(|object| held.get(&object.location) != Some(&object.size));
    done.skipped_files += same.len();
    let mut progress = Phase::start("backup: data files copied", "files", Some(to_copy.len() as u64));
    let mut copies = futures::stream::iter(to_copy)
        .map(|object| {
            let (source, copy) = (source.clone(), copy.clone());
            async move {
                copy_object(source.as_ref(), copy.as_ref(), &object)
                    .await
                    .map(|()| object.size)
            }
        })
        .buffer_unordered(CONCURRENT_COPIES);
    while let Some(bytes) = copies.try_next().await? {
        done.copied_files += 1;
        done.copied_bytes += bytes;
        progress.add(1);
    }
    progress.finish();

    // The commits and checkpoints in version order (their names are zero-padded versions), the
    // pointer to the newest checkpoint last.
    log.sort_by(|a, b| {
        let last = |o: &ObjectMeta| o.location.as_ref() == LAST_CHECKPOINT;
        (last(a), a.location.as_ref()).cmp(&(last(b), b.location.as_ref()))
    });
    for object in log {
        match held.get(&object.location) {
            Some(size) if *size == object.size => {
                done.skipped_files += 1;
            }
            Some(size) if is_commit(&object.location) => {
                return Err(BackupError::Diverged {
                    path: object.location.to_string(),
                    copy: *size,
                    source_size: object.size,
                }
                .into());
            }
            _ => {
                copy_object(source.as_ref(), copy.as_ref(), &object).await?;
                done.copied_files += 1;
                done.copied_bytes += object.size;
            }
        }
        if let Some(version) = commit_version(&object.location) {
            done.version = done.version.max(Some(version));
        }
    }
    tracing::info!(?done, from = %from.uri, to = %to.uri, "backup");
    Ok(done)
}

/// Every object under `prefix` (the whole table when `None`).
async fn list(store: &dyn ObjectStore, prefix: Option<&Path>) -> Result<Vec<ObjectMeta>, BackupError> {
    Ok(store.list(prefix).try_collect().await?)
}

async fn copy_object(
    source: &dyn ObjectStore,
    copy: &dyn ObjectStore,
    object: &ObjectMeta,
) -> Result<(), BackupError> {
    let bytes = source.get(&object.location).await?.bytes().await?;
    copy.put(&object.location, PutPayload::from(bytes)).await?;
    Ok(())
}

/// Whether `path` is a commit (`_delta_log/<version>.json`).
fn is_commit(path: &Path) -> bool {
    commit_version(path).is_some()
}

/// The version of a commit file.
fn commit_version(path: &Path) -> Option<u64> {
    let name = path.as_ref().strip_prefix("_delta_log/")?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_told_from_checkpoints_and_the_pointer() {
        assert_eq!(
            commit_version(&Path::from("_delta_log/00000000000000000012.json")),
            Some(12)
        );
        assert_eq!(
            commit_version(&Path::from("_delta_log/00000000000000000010.checkpoint.parquet")),
            None
        );
        assert_eq!(commit_version(&Path::from(LAST_CHECKPOINT)), None);
        assert_eq!(
            commit_version(&Path::from("event_date=2026-12-07/part-1.parquet")),
            None
        );
    }
}
