//! A user's rows across both stores, for the GDPR: [`erase_user`] removes them from the warehouse
//! (raw events and what the dashboards derived from them; [`lakehouse_warehouse::erase`] says how)
//! and from the lake; [`export_user`] reads them from both.

use deltalake::arrow::array::RecordBatch;
use lakehouse_lake::{
    EraseOptions, Erased, LakeLocation, OutputFormat, User, delete_user, export_user as lake_rows, open_at,
    render,
};
use lakehouse_progress::report;
pub use lakehouse_warehouse::erase::WarehouseErased;
use lakehouse_warehouse::erase::{UserRows, user_events};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::{Result, SyncError};

/// What `erase-user` did in both stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserErased {
    pub warehouse: WarehouseErased,
    pub lake: Erased,
}

/// A user's rows in both stores (GDPR access): the warehouse's raw events and the lake's rows,
/// each as JSON objects, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserExport {
    pub warehouse: Vec<Value>,
    pub lake: Vec<Value>,
}

/// The warehouse's side of [`User`].
fn user_rows(user: &User) -> UserRows<'_> {
    UserRows {
        user_id: &user.user_id,
        project_id: user.project_id.as_deref(),
    }
}

/// Removes the user's rows from the warehouse (one transaction), then from the lake's latest
/// version (one commit, carrying `options.user_metadata`). The warehouse goes first: were the lake
/// to go first and the warehouse fail, a later `rebuild` would still find the rows nowhere to put
/// back, but a dashboard would show them until the erasure is run again.
pub async fn erase_user(
    pool: &PgPool,
    lake: &LakeLocation,
    user: &User,
    options: EraseOptions,
) -> Result<UserErased> {
    let warehouse = report(
        "erase-user: the warehouse",
        erase_from_warehouse(pool, user, options.dry_run),
    )
    .await?;
    let table = open_at(lake, &Default::default()).await?;
    let lake = report("erase-user: the lake", delete_user(table, user, &options)).await?;
    Ok(UserErased { warehouse, lake })
}

/// The warehouse's side of [`erase_user`].
pub async fn erase_from_warehouse(pool: &PgPool, user: &User, dry_run: bool) -> Result<WarehouseErased> {
    Ok(lakehouse_warehouse::erase::erase_user(pool, user_rows(user), dry_run).await?)
}

/// The user's rows in both stores; the lake at its latest version.
pub async fn export_user(pool: &PgPool, lake: &LakeLocation, user: &User) -> Result<UserExport> {
    let warehouse = user_events(pool, user_rows(user)).await?;
    let table = open_at(lake, &Default::default()).await?;
    let lake = json_rows(&lake_rows(&table, user).await?)?;
    Ok(UserExport { warehouse, lake })
}

/// Arrow rows as JSON objects.
fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Value>> {
    render(batches, OutputFormat::Json)?
        .lines()
        .map(|line| serde_json::from_str(line).map_err(|error| SyncError::Row(error.to_string())))
        .collect()
}
