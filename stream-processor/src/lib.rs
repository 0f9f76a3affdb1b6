//! The warehouse consumer of DESIGN.md §7: events from Kafka into PostgreSQL, one transaction per
//! batch that inserts new events and stores the partition offsets, so that every event is counted
//! exactly once across crashes, restarts and rebalances.

mod config;
mod warehouse;

use lakehouse_kafka::{SinkService, run_sink};
use tokio_util::sync::CancellationToken;

pub use config::{Command, ProcessorConfig};
pub use warehouse::{Warehouse, WarehouseError};

/// Migrates, then consumes until `shutdown` is cancelled. A database that is down at start-up is
/// waited for, with backoff and a log line, not treated as fatal.
pub async fn run(config: ProcessorConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    let warehouse = Warehouse::connect_lazy(&config.database_url, &config.group_id)?;
    let service = SinkService {
        kafka: &config.kafka,
        group_id: &config.group_id,
        metrics_addr: config.metrics_addr,
        policy: config.flush_policy(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let open = || {
        let warehouse = warehouse.clone();
        async move { warehouse.migrate().await.map(|()| warehouse) }
    };
    Ok(run_sink(service, open, shutdown).await?)
}

/// Applies the migrations once and returns.
pub async fn migrate(config: &ProcessorConfig) -> anyhow::Result<()> {
    let warehouse = Warehouse::connect_lazy(&config.database_url, &config.group_id)?;
    warehouse.migrate().await?;
    tracing::info!("warehouse migrated");
    Ok(())
}
