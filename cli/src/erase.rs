//! A user's rows across both stores (or one), for the GDPR: [`erase_user`] removes them from the
//! warehouse (raw events and what the dashboards derived from them; [`lakehouse_warehouse::erase`]
//! says how) and from the lake; [`export_user`] reads them.

use deltalake::arrow::array::RecordBatch;
use lakehouse_lake::{
    AsOf, EraseOptions, Erased, LakeLocation, OutputFormat, TablePath, User, delete_user,
    export_user as lake_rows, open_at, render, tables,
};
use lakehouse_progress::report;
pub use lakehouse_warehouse::erase::WarehouseErased;
use lakehouse_warehouse::erase::{UserRows, user_events};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::{Result, SyncError};

/// What `user erase` did, in each store it worked on: in the lake, its own table (`lake`) and
/// each table `LAKE_TABLES` routed events to (`lake_tables`, DESIGN.md §8.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserErased {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<WarehouseErased>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake: Option<Erased>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lake_tables: Vec<TableErased>,
}

/// What the erasure did in one routed table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableErased {
    pub table: TablePath,
    #[serde(flatten)]
    pub erased: Erased,
}

/// A user's rows (GDPR access), from each store asked: the warehouse's raw events and the lake's
/// rows, each as JSON objects, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserExport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake: Option<Vec<Value>>,
}

/// The warehouse's side of [`User`].
fn user_rows(user: &User) -> UserRows<'_> {
    UserRows {
        user_id: &user.user_id,
        project_id: user.project_id.as_deref(),
    }
}

/// Removes the user's rows from the warehouse (one transaction), then from the lake's latest
/// version (one commit, carrying `options.user_metadata`); `None` skips a store. The warehouse
/// goes first: were the lake to go first and the warehouse fail, a later `rebuild` would still
/// find the rows nowhere to put back, but a dashboard would show them until the erasure is run
/// again.
pub async fn erase_user(
    warehouse: Option<&PgPool>,
    lake: Option<&LakeLocation>,
    user: &User,
    options: &EraseOptions,
) -> Result<UserErased> {
    let warehouse = match warehouse {
        Some(pool) => Some(
            report(
                "erase: the warehouse",
                lakehouse_warehouse::erase::erase_user(pool, user_rows(user), options.dry_run),
            )
            .await?,
        ),
        None => None,
    };
    let mut erased = UserErased {
        warehouse,
        lake: None,
        lake_tables: Vec::new(),
    };
    // Every table of the lake: a user's rows may be in any table a route names.
    let Some(lake) = lake else {
        return Ok(erased);
    };
    for path in lake_tables(lake).await? {
        let table = open_at(&path.location(lake), &AsOf::default()).await?;
        let phase = format!("erase: the lake's {path}");
        let done = report(&phase, delete_user(table, user, options)).await?;
        if path == TablePath::events() {
            erased.lake = Some(done);
        } else {
            erased.lake_tables.push(TableErased {
                table: path,
                erased: done,
            });
        }
    }
    Ok(erased)
}

/// The user's rows in the stores given; the lake at `at`.
pub async fn export_user(
    warehouse: Option<&PgPool>,
    lake: Option<(&LakeLocation, &AsOf)>,
    user: &User,
) -> Result<UserExport> {
    let warehouse = match warehouse {
        Some(pool) => Some(user_events(pool, user_rows(user)).await?),
        None => None,
    };
    let lake = match lake {
        Some((lake, at)) => {
            // Every table of the lake, the lake's own first.
            let mut rows = Vec::new();
            for path in lake_tables(lake).await? {
                let table = open_at(&path.location(lake), at).await?;
                let phase = format!("export: the lake's {path}");
                rows.extend(json_rows(&report(&phase, lake_rows(&table, user)).await?)?);
            }
            Some(rows)
        }
        None => None,
    };
    Ok(UserExport { warehouse, lake })
}

/// Every table of the lake; none at all is an error (a `LAKE_URI` that names no lake must not
/// look like a user with no rows).
async fn lake_tables(lake: &LakeLocation) -> Result<Vec<TablePath>> {
    let found = tables(lake).await?;
    if found.is_empty() {
        return Err(lakehouse_lake::LakeError::from(lakehouse_lake::NoTable(lake.uri.clone())).into());
    }
    Ok(found)
}

/// Arrow rows as JSON objects.
fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Value>> {
    render(batches, OutputFormat::Json)?
        .lines()
        .map(|line| serde_json::from_str(line).map_err(|error| SyncError::Row(error.to_string())))
        .collect()
}
