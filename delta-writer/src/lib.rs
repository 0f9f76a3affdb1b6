//! The lake writer of DESIGN.md §8: events from Kafka into the Delta table `<LAKE_URI>/events`,
//! with each commit carrying the Kafka offsets it covers, so that every event lands exactly once.

mod commands;
mod config;
mod crash;
mod dedup;
pub mod gdpr;
mod lake;
pub mod maintenance;
mod probe;
mod progress;
mod query;
mod schema;
mod time_travel;
pub mod verify;

use lakehouse_kafka::{SinkService, run_sink};
use tokio_util::sync::CancellationToken;

pub use commands::execute;
pub use config::{Command, LakeArgs, WriterConfig};
pub use crash::CrashAt;
pub use lake::{EVENTS_TABLE, Lake, LakeError, open_table, table_url};
pub use query::{OutputFormat, print_query, query, render};
pub use schema::{PARTITION_COLUMN, events_schema};
pub use time_travel::{AsOf, open_at};

/// Opens (or creates) the table, then consumes until `shutdown` is cancelled. A store that is
/// unreachable at start-up is waited for, with backoff and a log line.
pub async fn run(config: WriterConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    // A LAKE_URI that cannot be a table location is fatal; an unreachable store is retried.
    table_url(&config.lake.lake_uri, EVENTS_TABLE)?;
    let service = SinkService {
        kafka: &config.kafka,
        group_id: &config.group_id,
        group_instance_id: config.group_instance_id.as_deref(),
        metrics_addr: config.metrics_addr,
        policy: config.flush_policy(),
        version: env!("CARGO_PKG_VERSION"),
        until_caught_up: config.run_args().until_caught_up,
    };
    let dedup_window = chrono::Duration::hours(i64::from(config.dedup_window_hours));
    let open = || async {
        Lake::open_or_create(&config.lake, &config.group_id)
            .await
            .map(|lake| {
                lake.with_dedup(dedup_window, config.dedup_max_ids)
                    .with_crash(config.crash_at.clone())
            })
    };
    Ok(run_sink(service, open, shutdown).await?)
}

/// Forgets the group's positions on the topic (see [`Command::ResetOffsets`]); every partition of
/// the topic when `partitions` is empty.
pub async fn reset_offsets(config: &WriterConfig, partitions: &[i32]) -> anyhow::Result<()> {
    let partitions = if partitions.is_empty() {
        lakehouse_kafka::partitions_of(&config.kafka.client_config(), &config.kafka.topic).await?
    } else {
        partitions.to_vec()
    };
    let mut lake = Lake::open_or_create(&config.lake, &config.group_id).await?;
    lake.reset_offsets(&config.kafka.topic, &partitions).await?;
    tracing::info!(group = %config.group_id, topic = %config.kafka.topic, partitions = ?partitions,
        "stored offsets reset: the next run reads these partitions from the beginning");
    Ok(())
}
