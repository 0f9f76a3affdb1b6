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
    let root = root_store(lake)?;
    if has_log(root.as_ref(), &TablePath::events()).await? {
        found.push(TablePath::events());
    }
    for kind in FOLDERS {
        let listed = match root.list_with_delimiter(Some(&Path::from(kind))).await {
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
            let path = TablePath::from_folder(kind, &folder);
            if has_log(root.as_ref(), &path).await? {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// Whether the lake holds the table `path` (its log holds anything). Only lists under the lake's
/// root, so asking about a table that is not there creates no folder for it (opening one would,
/// on a local disk).
pub async fn has_table(lake: &LakeLocation, path: &TablePath) -> Result<bool, LakeError> {
    has_log(root_store(lake)?.as_ref(), path).await
}

/// The object store at the lake's root, no table read: listing a lake of hundreds of tables reads
/// none of their logs.
fn root_store(lake: &LakeLocation) -> Result<std::sync::Arc<dyn ObjectStore>, LakeError> {
    object_store(table_url(&lake.uri, "")?, lake)
}

/// Whether `<folder of path>/events/_delta_log` under the lake's root store `root` holds anything.
async fn has_log(root: &dyn ObjectStore, path: &TablePath) -> Result<bool, LakeError> {
    let log = match path.folder() {
        "" => Path::from("events/_delta_log"),
        folder => Path::from(format!("{folder}/events/_delta_log")),
    };
    match root.list_with_delimiter(Some(&log)).await {
        Ok(listed) => Ok(!listed.objects.is_empty()),
        Err(deltalake::logstore::object_store::Error::NotFound { .. }) => Ok(false),
        Err(error) => Err(deltalake::DeltaTableError::from(error).into()),
    }
}
