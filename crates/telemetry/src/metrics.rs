//! The Prometheus recorder and every metric name the services emit, in one place so that dashboards
//! and code agree. Names end in `_total`, `_seconds` or `_bytes`; labels stay low-cardinality.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Events the api answered for, labelled `outcome` = `accepted` | `rejected`.
pub const API_EVENTS_TOTAL: &str = "lakehouse_api_events_total";
/// Requests answered, labelled `status` and `code` (`accepted`, or the error code of the body).
pub const API_REQUESTS_TOTAL: &str = "lakehouse_api_requests_total";
/// Broken rules of rejected events, labelled `field` (a contract field, or `other`).
pub const API_REJECTED_FIELDS_TOTAL: &str = "lakehouse_api_rejected_fields_total";
/// Time from handing a request's events to the producer until Kafka acknowledged them all.
pub const API_PRODUCE_SECONDS: &str = "lakehouse_api_produce_seconds";
/// Messages read from Kafka by a consumer, labelled `group`.
pub const CONSUMER_MESSAGES_TOTAL: &str = "lakehouse_consumer_messages_total";
/// Times a consumer left its group and joined again because the group left partitions unread for
/// too long (DESIGN.md §6.5); labelled `group` and `reason` (`no_partitions` | `no_progress` |
/// `orphaned_partitions`).
pub const CONSUMER_REJOINS_TOTAL: &str = "lakehouse_consumer_rejoins_total";
/// Messages sent to the dead-letter topic, labelled `group`.
pub const DLQ_MESSAGES_TOTAL: &str = "lakehouse_dlq_messages_total";
/// Batches committed by a sink, labelled `group`.
pub const SINK_COMMITS_TOTAL: &str = "lakehouse_sink_commits_total";
/// Failed sink commits (each is retried), labelled `group`.
pub const SINK_ERRORS_TOTAL: &str = "lakehouse_sink_errors_total";
/// Rows per committed batch, labelled `group`.
pub const SINK_BATCH_ROWS: &str = "lakehouse_sink_batch_rows";
/// Time to commit one batch, labelled `group`.
pub const SINK_COMMIT_SECONDS: &str = "lakehouse_sink_commit_seconds";
/// Seconds from the api receiving an event (`received_at`) to its sink committing it, a histogram
/// with [`FRESHNESS_BUCKETS`], labelled `group` and `sink` (`warehouse` | `lake`).
pub const SINK_FRESHNESS_SECONDS: &str = "lakehouse_sink_freshness_seconds";
/// `received_at` of the newest event a sink has committed, in Unix seconds, labelled `group` and
/// `sink`: how fresh what the store shows is.
pub const SINK_NEWEST_RECEIVED: &str = "lakehouse_sink_newest_received_timestamp_seconds";
/// Per partition, the age of the oldest message the consumer has not committed yet (0 when it has
/// committed up to the high watermark), labelled `group`, `sink` and `partition`.
pub const CONSUMER_LAG_SECONDS: &str = "lakehouse_consumer_lag_seconds";
/// 1 while a readiness check passes, 0 while it fails (what `/ready` says), labelled `check`.
pub const READY_CHECK: &str = "lakehouse_ready_check";
/// Rounds of the warehouse's retention, labelled `outcome` = `applied` | `skipped` (another
/// replica held the lock) | `failed`.
pub const RETENTION_RUNS_TOTAL: &str = "lakehouse_retention_runs_total";
/// Rounds of the warehouse's fold (queued events into the derived tables), labelled `outcome` =
/// `applied` | `failed`.
pub const WAREHOUSE_FOLDS_TOTAL: &str = "lakehouse_warehouse_folds_total";
/// Queued events the fold added to the derived tables.
pub const WAREHOUSE_FOLDED_EVENTS_TOTAL: &str = "lakehouse_warehouse_folded_events_total";
/// Events queued for the derived tables after the fold's last round: how far the dashboards'
/// tables are behind `events`.
pub const WAREHOUSE_DERIVE_QUEUE_EVENTS: &str = "lakehouse_warehouse_derive_queue_events";
/// Seconds each fold transaction took, from its start to its commit.
pub const WAREHOUSE_FOLD_SECONDS: &str = "lakehouse_warehouse_fold_seconds";
/// Files the latest version of the lake's events table references.
pub const LAKE_FILES: &str = "lakehouse_lake_files";
/// Of those, files smaller than the small-file size (what `optimize` would compact).
pub const LAKE_SMALL_FILES: &str = "lakehouse_lake_small_files";
/// Commits since the table's last checkpoint (a reader replays them one by one).
pub const LAKE_COMMITS_SINCE_CHECKPOINT: &str = "lakehouse_lake_commits_since_checkpoint";
/// The table's `delta.checkpointInterval`, to compare the above with.
pub const LAKE_CHECKPOINT_INTERVAL: &str = "lakehouse_lake_checkpoint_interval";

/// Requests the lake browser answered, labelled `page` (the route) and `status`.
pub const LAKE_BROWSER_REQUESTS_TOTAL: &str = "lakehouse_lake_browser_requests_total";
/// Time the lake browser took to answer a page, labelled `page` (the route).
pub const LAKE_BROWSER_PAGE_SECONDS: &str = "lakehouse_lake_browser_page_seconds";
/// People's SQL queries running on a query executor's threads (the lake browser's console, the
/// CLI's `query`): at most `QUERY_CONCURRENCY`; a stopped query counts until its task has ended.
pub const QUERIES_RUNNING: &str = "lakehouse_queries_running";

/// The buckets of [`SINK_FRESHNESS_SECONDS`]: from the warehouse's sub-second commits to the
/// lake's minute-long flushes and an hour of backlog, with the alerts' thresholds (60 s, 300 s)
/// on bucket bounds so that `histogram_quantile` is exact there.
pub const FRESHNESS_BUCKETS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// How often the recorder folds recorded histogram samples into its buckets and summaries.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the global Prometheus recorder once per process and returns its handle. Histograms
/// render as summaries, except the ones given buckets here.
///
/// The recorder keeps every histogram sample until it folds them in, which it does when it renders
/// and at each upkeep: a thread of its own runs the upkeep every [`UPKEEP_INTERVAL`], so that a
/// process nobody scrapes (a drain, a deployment without Prometheus) does not hold every sample
/// it ever recorded (the sinks record one per event).
pub fn install_prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(SINK_FRESHNESS_SECONDS.into()), &FRESHNESS_BUCKETS)
                .expect("the freshness buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Only fails if another recorder is installed; ours is then unused but still renders.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                })
                .expect("a thread for the metrics upkeep");
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_a_histogram_with_the_alert_thresholds_as_bucket_bounds() {
        let handle = install_prometheus();
        metrics::histogram!(SINK_FRESHNESS_SECONDS, "group" => "buckets-test", "sink" => "warehouse")
            .record(42.0);
        let text = handle.render();
        let bucket = |le: &str| {
            format!(
                r#"lakehouse_sink_freshness_seconds_bucket{{group="buckets-test",sink="warehouse",le="{le}"}}"#
            )
        };
        assert!(text.contains(&format!("{} 0", bucket("30"))), "{text}");
        assert!(text.contains(&format!("{} 1", bucket("60"))), "{text}");
        assert!(text.contains(&format!("{} 1", bucket("300"))), "{text}");
    }
}
