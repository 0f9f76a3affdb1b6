//! Which version of the table a command reads: the latest, a version number, or the last version
//! committed at a point in time.

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;

use crate::config::LakeArgs;
use crate::lake::{EVENTS_TABLE, LakeError, open_table, table_url};

/// `--version N` or `--as-of <RFC 3339 time>`; neither means the latest version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct AsOf {
    /// Read the table as of this version (see `history`).
    #[arg(long, conflicts_with = "as_of")]
    pub version: Option<u64>,
    /// Read the table as it was at this time (RFC 3339, e.g. 2026-11-22T00:00:00Z): the last
    /// version committed by then.
    #[arg(long = "as-of")]
    pub as_of: Option<DateTime<Utc>>,
}

/// Opens the events table at the version `at` selects; an error when there is no table yet.
pub async fn open_at(lake: &LakeArgs, at: &AsOf) -> Result<DeltaTable, LakeError> {
    let mut table = open_table(table_url(&lake.lake_uri, EVENTS_TABLE)?, lake).await?;
    if table.version().is_none() {
        return Err(LakeError::NoTable(lake.lake_uri.clone()));
    }
    if let Some(version) = at.version {
        table.load_version(version).await?;
    } else if let Some(time) = at.as_of {
        table.load_with_datetime(time).await?;
    }
    Ok(table)
}
