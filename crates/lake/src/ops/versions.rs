//! Each commit's changes as its log records them: files and rows added and removed, whether they
//! changed data (an `optimize` only moves rows), and the Kafka offsets its `txn` actions stored.
//! Rows removed are the removed files' row counts, looked up where those files were added.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::logstore::get_actions;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::LakeError;
use crate::table::log::LogError;

/// How many log files are read at once.
const CONCURRENT_READS: usize = 8;

/// What one commit changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionChanges {
    pub version: u64,
    /// When the commit became visible (its log file's time, what time travel compares with).
    pub timestamp: Option<DateTime<Utc>>,
    pub operation: String,
    pub files_added: usize,
    pub files_removed: usize,
    pub bytes_added: u64,
    pub bytes_removed: u64,
    pub rows_added: u64,
    /// `None` when a removed file's row count is unknown (it was added before the oldest log
    /// entry still kept, or without statistics).
    pub rows_removed: Option<u64>,
    /// Whether the commit changed rows; `false` for a compaction that only rewrote files.
    pub data_change: bool,
    /// Its `txn` actions: app id (`<group>-<topic>-<partition>`) → the last offset stored.
    pub offsets: BTreeMap<String, i64>,
}

/// The commits `newest`, `newest - 1`, ... down to `count` of them or version 0, newest first.
pub async fn version_changes(
    table: &DeltaTable,
    newest: u64,
    count: usize,
) -> Result<Vec<VersionChanges>, LakeError> {
    let oldest = newest.saturating_sub(count.saturating_sub(1) as u64);
    let entries: Vec<(u64, Vec<Action>, Option<DateTime<Utc>>)> = futures::stream::iter(oldest..=newest)
        .map(|version| read(table, version))
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;

    // Row counts of the files live just before the oldest commit read, then of every file the
    // commits read add, so that a removal can be counted wherever its file came from.
    let mut rows_of: HashMap<String, u64> = HashMap::new();
    if oldest > 0 && entries.iter().any(|(_, actions, _)| has_removes(actions)) {
        let mut before = table.clone();
        before.load_version(oldest - 1).await?;
        for file in before.snapshot()?.log_data().iter() {
            if let Some(rows) = file.num_records() {
                rows_of.insert(file.path().into_owned(), rows as u64);
            }
        }
    }
    let mut changes = Vec::with_capacity(entries.len());
    for (version, actions, written) in entries {
        let mut change = VersionChanges {
            version,
            timestamp: written,
            rows_removed: Some(0),
            ..VersionChanges::default()
        };
        for action in actions {
            match action {
                Action::CommitInfo(info) => {
                    change.operation = info.operation.unwrap_or_default();
                    if change.timestamp.is_none() {
                        change.timestamp = info
                            .timestamp
                            .and_then(|millis| Utc.timestamp_millis_opt(millis).single());
                    }
                }
                Action::Add(add) => {
                    change.files_added += 1;
                    change.bytes_added += u64::try_from(add.size).unwrap_or_default();
                    change.data_change |= add.data_change;
                    if let Some(rows) = add.get_stats().ok().flatten().map(|s| s.num_records as u64) {
                        change.rows_added += rows;
                        rows_of.insert(decoded(&add.path), rows);
                    }
                }
                Action::Remove(remove) => {
                    change.files_removed += 1;
                    change.bytes_removed += remove
                        .size
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or_default();
                    change.data_change |= remove.data_change;
                    change.rows_removed = match (change.rows_removed, rows_of.get(&decoded(&remove.path))) {
                        (Some(total), Some(rows)) => Some(total + rows),
                        _ => None,
                    };
                }
                Action::Txn(txn) => {
                    change.offsets.insert(txn.app_id, txn.version);
                }
                _ => {}
            }
        }
        changes.push(change);
    }
    changes.reverse();
    Ok(changes)
}

fn has_removes(actions: &[Action]) -> bool {
    actions.iter().any(|action| matches!(action, Action::Remove(_)))
}

/// A path as the log writes it (percent-encoded) in the form snapshots give it.
fn decoded(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| path.to_string(), |(_, value)| value.into_owned())
}

/// The actions of `version` and its log file's time.
async fn read(
    table: &DeltaTable,
    version: u64,
) -> Result<(u64, Vec<Action>, Option<DateTime<Utc>>), LakeError> {
    let bytes = table
        .log_store()
        .read_commit_entry(version)
        .await?
        .ok_or(LogError::MissingCommit(version))?;
    let actions = get_actions(version, &bytes)?;
    let log_file = Path::from(format!("_delta_log/{version:020}.json"));
    let written = table
        .log_store()
        .object_store(None)
        .head(&log_file)
        .await
        .ok()
        .map(|meta| meta.last_modified);
    Ok((version, actions, written))
}
