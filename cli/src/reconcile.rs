//! `reconcile`: counts per hour and event type in the lake against the warehouse's raw events and
//! its rollups. Catches both a store that lost or gained events and a derived table that silently
//! stopped filling while raw events kept arriving. The lake's counts are those of every table of
//! it, or of one table against its share of the warehouse ([`LakeTables`]).

use lakehouse_warehouse::counts::{raw_counts, rollup_counts};
use lakehouse_warehouse::range::HourRange;
use sqlx::PgPool;

use crate::drift::{Report, Threshold};
use crate::error::Result;
use crate::lake_tables::LakeTables;

/// Compares the stores over `range`.
pub async fn reconcile(
    pool: &PgPool,
    lake: &LakeTables,
    range: &HourRange,
    threshold: Threshold,
) -> Result<Report> {
    let (lake_counts, read) = lake
        .counts(
            &format!("reconcile: counting the lake's events in {range}"),
            range,
        )
        .await?;
    let raw = raw_counts(pool, range, lake.share()).await?;
    let rollups = rollup_counts(pool, range, lake.share()).await?;
    Ok(Report::compare(
        range,
        read,
        lake.share().project_id(),
        threshold,
        &lake_counts,
        &raw,
        &rollups,
    ))
}
