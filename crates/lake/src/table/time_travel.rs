//! Which version of the table a reader sees: the latest, a version number, or the last version
//! committed at a point in time.

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;

use crate::error::{LakeError, fold_into_lake_error};
use crate::table::location::{LakeLocation, open_table};

/// A version number or a time; neither means the latest version. A version wins over a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsOf {
    pub version: Option<u64>,
    /// The last version committed by then.
    pub as_of: Option<DateTime<Utc>>,
}

/// The lake has no events table yet.
#[derive(Debug, thiserror::Error)]
#[error("there is no events table under {0} yet")]
pub struct NoTable(pub String);

fold_into_lake_error!(NoTable);

/// Opens the events table at the version `at` selects; an error when there is no table yet.
pub async fn open_at(location: &LakeLocation, at: &AsOf) -> Result<DeltaTable, LakeError> {
    let mut table = open_table(location.events_url()?, location).await?;
    if table.version().is_none() {
        return Err(NoTable(location.uri.clone()).into());
    }
    if let Some(version) = at.version {
        table.load_version(version).await?;
    } else if let Some(time) = at.as_of {
        table.load_with_datetime(time).await?;
    }
    Ok(table)
}
