//! What each commit of the log did, read from its actions: when the writer made it, the data files
//! it added and the offsets its `txn` actions stored; and from that, when each event first became
//! visible in the table.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::kernel::Action;
use deltalake::logstore::get_actions;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::{DeltaTable, DeltaTableError};
use uuid::Uuid;

use crate::error::{LakeError, fold_into_lake_error};
use crate::table::decode::parse_event_id;

/// One commit as its log file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub version: u64,
    /// The commit's own time (`commitInfo.timestamp`): the writer's clock just before it wrote
    /// the log file (`history` shows the file's time, a little later).
    pub timestamp: Option<DateTime<Utc>>,
    /// The data files the commit added, relative to the table root, as object store paths.
    pub added: Vec<String>,
    /// Its `txn` actions: app id (`<group>-<topic>-<partition>`) → the last offset stored.
    pub offsets: BTreeMap<String, i64>,
}

/// A version whose log file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("version {0} is not in the log (not written yet, or cleaned up)")]
    MissingCommit(u64),
}

fold_into_lake_error!(LogError);

/// The commit of `version`, as its log file records it.
pub async fn log_entry(table: &DeltaTable, version: u64) -> Result<LogEntry, LakeError> {
    let bytes = table
        .log_store()
        .read_commit_entry(version)
        .await?
        .ok_or(LogError::MissingCommit(version))?;
    let mut entry = LogEntry {
        version,
        timestamp: None,
        added: Vec::new(),
        offsets: BTreeMap::new(),
    };
    for action in get_actions(version, &bytes)? {
        match action {
            Action::CommitInfo(info) => {
                entry.timestamp = info
                    .timestamp
                    .and_then(|millis| Utc.timestamp_millis_opt(millis).single());
            }
            Action::Add(add) => entry.added.push(add.path),
            Action::Txn(txn) => {
                entry.offsets.insert(txn.app_id, txn.version);
            }
            _ => {}
        }
    }
    Ok(entry)
}

/// The `event_id`s of one data file (a path of [`LogEntry::added`]), in file order.
pub async fn event_ids_in_file(table: &DeltaTable, path: &str) -> Result<Vec<Uuid>, LakeError> {
    let bytes = table
        .object_store()
        .get(&Path::from(path))
        .await
        .map_err(DeltaTableError::from)?
        .bytes()
        .await
        .map_err(DeltaTableError::from)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(DeltaTableError::from)?;
    let only_ids = ProjectionMask::columns(builder.parquet_schema(), ["event_id"]);
    let reader = builder
        .with_projection(only_ids)
        .build()
        .map_err(DeltaTableError::from)?;
    let mut ids = Vec::new();
    for batch in reader {
        let ids_as_text = cast(batch?.column(0), &DataType::Utf8)?;
        for id in ids_as_text.as_string::<i32>().iter() {
            ids.push(parse_event_id(id)?);
        }
    }
    Ok(ids)
}

/// When each event of the table first became visible: the time of the first commit (by its own
/// record, see [`LogEntry::timestamp`]) that added a file holding it. Commits without a time
/// are passed over. Every version from 0 to the loaded one must still be in the log.
pub async fn first_appearances(table: &DeltaTable) -> Result<HashMap<Uuid, DateTime<Utc>>, LakeError> {
    let mut first_seen = HashMap::new();
    for version in 0..=table.version().unwrap_or(0) {
        let entry = log_entry(table, version).await?;
        let Some(committed) = entry.timestamp else {
            continue;
        };
        for path in &entry.added {
            for id in event_ids_in_file(table, path).await? {
                first_seen.entry(id).or_insert(committed);
            }
        }
    }
    Ok(first_seen)
}
