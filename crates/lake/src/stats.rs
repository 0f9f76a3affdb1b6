//! `stats`: the shape of the table's latest version that decides how costly it is to read — how
//! many files it references and how many of them are small, and how many commits a reader replays
//! since the last checkpoint. The delta-writer reports them as metrics for the lake's alerts.

use deltalake::DeltaTable;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use deltalake::table::config::TablePropertiesExt;
use serde::Serialize;

use crate::error::LakeError;

/// Files under this size count as small: opening one costs more than reading it, and `optimize`
/// exists to merge them (its default target is 8 times this).
pub const SMALL_FILE_BYTES: i64 = 16 * 1024 * 1024;

/// Where the log says which checkpoint is the newest.
const LAST_CHECKPOINT: &str = "_delta_log/_last_checkpoint";

/// The table's shape at its loaded version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStats {
    pub version: u64,
    pub files: usize,
    pub small_files: usize,
    pub bytes: i64,
    /// The version of the newest checkpoint, `None` before the first.
    pub last_checkpoint: Option<u64>,
    /// Commits a reader replays on top of the newest checkpoint (or from the start).
    pub commits_since_checkpoint: u64,
    /// `delta.checkpointInterval`.
    pub checkpoint_interval: u64,
}

/// The stats of the loaded version of `table`.
pub async fn stats(table: &DeltaTable) -> Result<TableStats, LakeError> {
    let snapshot = table.snapshot()?;
    let version = snapshot.version();
    let (mut files, mut small_files, mut bytes) = (0, 0, 0);
    for file in snapshot.log_data().iter() {
        files += 1;
        bytes += file.size();
        if file.size() < SMALL_FILE_BYTES {
            small_files += 1;
        }
    }
    let checkpoint_interval = snapshot.table_config().checkpoint_interval().get();
    let last_checkpoint = last_checkpoint(table).await?;
    Ok(TableStats {
        version,
        files,
        small_files,
        bytes,
        last_checkpoint,
        commits_since_checkpoint: version.saturating_sub(last_checkpoint.unwrap_or(0)),
        checkpoint_interval,
    })
}

/// The version `_delta_log/_last_checkpoint` names; `None` when there is no checkpoint yet.
async fn last_checkpoint(table: &DeltaTable) -> Result<Option<u64>, LakeError> {
    #[derive(serde::Deserialize)]
    struct Hint {
        version: u64,
    }
    let bytes = match table.object_store().get(&Path::from(LAST_CHECKPOINT)).await {
        Ok(object) => object.bytes().await.map_err(deltalake::DeltaTableError::from)?,
        Err(deltalake::logstore::object_store::Error::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(deltalake::DeltaTableError::from(error).into()),
    };
    // A hint that cannot be read is treated as absent, as Delta readers do: they list the log.
    Ok(serde_json::from_slice::<Hint>(&bytes)
        .ok()
        .map(|hint| hint.version))
}
