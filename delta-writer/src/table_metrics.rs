//! The lake's shape as metrics while the writer runs — files, small files, commits since the last
//! checkpoint and the checkpoint interval (`lakehouse_lake_*`) — which the lake's alerts read
//! (`LakehouseLakeSmallFiles`, `LakehouseLakeCheckpointOverdue`).

use std::time::Duration;

use deltalake::DeltaTable;
use lakehouse_lake::{LakeError, LakeLocation, TableStats, open_table, table_stats};
use lakehouse_telemetry::metrics as names;
use tokio_util::sync::CancellationToken;

/// How often the table is reloaded for its stats.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Sets the gauges from `stats`.
pub fn record(stats: &TableStats) {
    metrics::gauge!(names::LAKE_FILES).set(stats.files as f64);
    metrics::gauge!(names::LAKE_SMALL_FILES).set(stats.small_files as f64);
    metrics::gauge!(names::LAKE_COMMITS_SINCE_CHECKPOINT).set(stats.commits_since_checkpoint as f64);
    metrics::gauge!(names::LAKE_CHECKPOINT_INTERVAL).set(stats.checkpoint_interval as f64);
}

/// Every `interval` until `shutdown`, brings the table up to date and records its stats. A store
/// that cannot be read is tried again next round (the writer's readiness reports the outage).
pub async fn report_every(location: LakeLocation, interval: Duration, shutdown: CancellationToken) {
    let mut table: Option<DeltaTable> = None;
    let mut failing = false;
    let mut every = tokio::time::interval(interval);
    while shutdown.run_until_cancelled(every.tick()).await.is_some() {
        match refresh(&location, &mut table).await {
            Ok(stats) => {
                record(&stats);
                failing = false;
            }
            Err(error) if !failing => {
                tracing::warn!(%error, retry_in_s = interval.as_secs(), "cannot read the lake's stats");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

async fn refresh(location: &LakeLocation, table: &mut Option<DeltaTable>) -> Result<TableStats, LakeError> {
    match table {
        Some(table) => table.update_incremental(None).await?,
        None => *table = Some(open_table(location.events_url()?, location).await?),
    }
    // A table not created yet (the writer creates it when it opens) has no snapshot: an error.
    table_stats(table.as_ref().expect("loaded above")).await
}
