//! `reconcile`: counts per hour and event type in the lake against the warehouse's raw events and
//! its rollups. Catches both a store that lost or gained events and a derived table that silently
//! stopped filling while raw events kept arriving.

use lakehouse_warehouse::counts::{raw_counts, rollup_counts};
use lakehouse_warehouse::range::HourRange;
use sqlx::PgPool;

use crate::drift::{Report, Threshold};
use crate::error::Result;
use crate::lake::LakeSource;

/// Compares the stores over `range`.
pub async fn reconcile(
    pool: &PgPool,
    lake: &LakeSource,
    range: &HourRange,
    threshold: Threshold,
) -> Result<Report> {
    let lake_counts = lake.counts(range).await?;
    let raw = raw_counts(pool, range).await?;
    let rollups = rollup_counts(pool, range).await?;
    Ok(Report::compare(
        range,
        lake.version(),
        threshold,
        &lake_counts,
        &raw,
        &rollups,
    ))
}
