//! The warehouse consumer of DESIGN.md §7 as a service and a command line: events from Kafka into
//! the warehouse (the `lakehouse-warehouse` library) through the shared consume loop, one
//! transaction per group of partitions that inserts new events, queues them for the derived
//! tables and stores the partition offsets, and the library's fold beside it, so that every
//! event is counted exactly once across crashes, restarts and rebalances.

mod config;
mod sink;

use lakehouse_kafka::run_sink;
use lakehouse_warehouse::Warehouse;
use tokio_util::sync::CancellationToken;

pub use config::{Command, MOVED, OldBatchNames, ProcessorConfig};
pub use sink::WarehouseSink;

/// Migrates, then consumes until `shutdown` is cancelled. A database that is down at start-up is
/// waited for, with backoff and a log line, not treated as fatal.
pub async fn run(config: ProcessorConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    let warehouse = Warehouse::connect_lazy(config.database_url.expose(), &config.consumer.group_id)?
        .with_writers(config.writers)
        .with_derived(config.derived_tables());
    if !config.derived_tables().skipped().is_empty() {
        tracing::warn!(skipped = ?config.derived_tables().skipped(),
            "derived tables switched off: they are not maintained (rebuild them with `lakehouse warehouse rebuild` before reading them again)");
    }
    let service = config.sink_service()?;
    let roles = config.roles();
    let open = || {
        let (warehouse, roles) = (warehouse.clone(), roles.clone());
        async move { warehouse.migrate(&roles).await.map(|_| WarehouseSink(warehouse)) }
    };
    let retention = tokio::spawn(config.retention().run_every(
        warehouse.pool().clone(),
        config.retention_interval(),
        shutdown.clone(),
    ));
    // The fold stops after the consume loop, and folds what the loop's last batches queued.
    let fold_stop = CancellationToken::new();
    let fold = tokio::spawn(warehouse.fold_loop().run(fold_stop.clone()));
    let result = run_sink(service, open, shutdown.clone()).await;
    shutdown.cancel();
    fold_stop.cancel();
    let _ = tokio::join!(retention, fold);
    Ok(result?)
}

/// Applies the migrations once and returns.
pub async fn migrate(config: &ProcessorConfig) -> anyhow::Result<()> {
    let warehouse = Warehouse::connect_lazy(config.database_url.expose(), &config.consumer.group_id)?;
    warehouse.migrate(&config.roles()).await?;
    Ok(())
}
