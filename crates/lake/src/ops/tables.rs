//! The tables of a lake (DESIGN.md §8.6): `<lake>/events`, and those `LAKE_TABLES` routed events
//! to (`projects/<id>`, `event_types/<type>`, `tables/<name>`), each one a folder holding an
//! `events` table with a log.

use deltalake::logstore::object_store::ObjectStore;
use deltalake::logstore::object_store::path::Path;

use crate::error::LakeError;
use crate::table::location::{LakeLocation, object_store, table_url};
use crate::table::routing::{FOLDERS, TablePath};

/// Every table of the lake with a log, the lake's own first, then by folder.
pub async fn tables(lake: &LakeLocation) -> Result<Vec<TablePath>, LakeError> {
    let mut found = Vec::new();
    if has_log(lake, "", "events").await? {
        found.push(TablePath::events());
    }
    for kind in FOLDERS {
        let store = store_at(lake, kind)?;
        let listed = match store.list_with_delimiter(None).await {
            Ok(listed) => listed,
            Err(deltalake::logstore::object_store::Error::NotFound { .. }) => continue,
            Err(error) => return Err(deltalake::DeltaTableError::from(error).into()),
        };
        let mut folders: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|prefix| prefix.filename().map(str::to_string))
            .collect();
        folders.sort();
        for folder in folders {
            if has_log(lake, kind, &format!("{folder}/events")).await? {
                found.push(TablePath::from_folder(kind, &folder));
            }
        }
    }
    Ok(found)
}

/// The object store at `<lake>/<folder>` (the lake's root for `""`), no table read: listing a
/// lake of hundreds of tables reads none of their logs.
fn store_at(lake: &LakeLocation, folder: &str) -> Result<std::sync::Arc<dyn ObjectStore>, LakeError> {
    object_store(table_url(&lake.uri, folder)?, lake)
}

/// Whether `<lake>/<folder>/<table>/_delta_log` holds anything.
async fn has_log(lake: &LakeLocation, folder: &str, table: &str) -> Result<bool, LakeError> {
    let store = if folder.is_empty() {
        store_at(lake, table)?
    } else {
        store_at(lake, &format!("{folder}/{table}"))?
    };
    match store.list_with_delimiter(Some(&Path::from("_delta_log"))).await {
        Ok(listed) => Ok(!listed.objects.is_empty()),
        Err(deltalake::logstore::object_store::Error::NotFound { .. }) => Ok(false),
        Err(error) => Err(deltalake::DeltaTableError::from(error).into()),
    }
}
