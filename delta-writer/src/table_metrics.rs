//! The lake's shape as metrics while the writer runs — files, small files, commits since the last
//! checkpoint and the checkpoint interval (`lakehouse_lake_*`), labelled with the table (`events`,
//! or a routed table such as `projects/shop`, DESIGN.md §8.6) — which the lake's alerts read
//! (`LakehouseLakeSmallFiles`, `LakehouseLakeCheckpointOverdue`).
//!
//! Each round opens one table at a time, records its stats and drops it, so that a writer routing
//! to hundreds of tables holds no snapshot of the idle ones between rounds.

use std::time::Duration;

use lakehouse_lake::{
    LakeError, LakeLocation, Routing, TablePath, TableStats, open_table, table_stats, tables,
};
use lakehouse_telemetry::metrics as names;
use tokio_util::sync::CancellationToken;

/// How often the tables are read for their stats.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Sets the gauges of `table` from `stats`.
pub fn record(table: &TablePath, stats: &TableStats) {
    let label = [("table", table.to_string())];
    metrics::gauge!(names::LAKE_FILES, &label).set(stats.files as f64);
    metrics::gauge!(names::LAKE_SMALL_FILES, &label).set(stats.small_files as f64);
    metrics::gauge!(names::LAKE_COMMITS_SINCE_CHECKPOINT, &label).set(stats.commits_since_checkpoint as f64);
    metrics::gauge!(names::LAKE_CHECKPOINT_INTERVAL, &label).set(stats.checkpoint_interval as f64);
}

/// Every `interval` until `shutdown`, records the stats of each table the writer writes: the
/// lake's own, or with routing every table the lake holds. A store that cannot be read is tried
/// again next round (the writer's readiness reports the outage); a table not created yet is left
/// out until it is.
pub async fn report_every(
    location: LakeLocation,
    routing: Routing,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    let mut every = tokio::time::interval(interval);
    while shutdown.run_until_cancelled(every.tick()).await.is_some() {
        match report(&location, &routing).await {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                tracing::warn!(%error, retry_in_s = interval.as_secs(), "cannot read the lake's stats");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// One round: each table's stats recorded; the first error ends the round.
async fn report(location: &LakeLocation, routing: &Routing) -> Result<(), LakeError> {
    let paths = if routing.is_single() {
        vec![TablePath::events()]
    } else {
        tables(location).await?
    };
    for path in paths {
        let table_location = path.location(location);
        let table = open_table(table_location.events_url()?, &table_location).await?;
        // A table not created yet has no snapshot.
        if table.version().is_some() {
            record(&path, &table_stats(&table).await?);
        }
    }
    Ok(())
}
