//! The Prometheus recorder and every metric name the services emit, in one place so that dashboards
//! and code agree. Names end in `_total`, `_seconds` or `_bytes`; labels stay low-cardinality.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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

/// Requests the lake browser answered, labelled `page` (the route) and `status`.
pub const LAKE_BROWSER_REQUESTS_TOTAL: &str = "lakehouse_lake_browser_requests_total";
/// Time the lake browser took to answer a page, labelled `page` (the route).
pub const LAKE_BROWSER_PAGE_SECONDS: &str = "lakehouse_lake_browser_page_seconds";

/// Installs the global Prometheus recorder once per process and returns its handle.
pub fn install_prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Only fails if another recorder is installed; ours is then unused but still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
