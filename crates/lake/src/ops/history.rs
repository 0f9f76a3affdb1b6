//! The table's commits, newest first: version, time, operation and what the writer recorded.

use chrono::{DateTime, TimeZone, Utc};
use deltalake::DeltaTable;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use futures::TryStreamExt;
use serde::Serialize;

use crate::error::LakeError;

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
    /// What the committer recorded about itself: for the administrative operations, who ran them
    /// with which arguments (their audit record).
    pub user_metadata: Option<String>,
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
            user_metadata: info.user_metadata,
        });
    }
    Ok(commits)
}
