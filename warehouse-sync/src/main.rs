//! The warehouse-sync binary: `reconcile`, `rebuild`, `erase-user`, `export-user` and `dlq` (see
//! docs/RUNBOOK.md).

use std::process::ExitCode;

use clap::Parser;
use lakehouse_warehouse_sync::SyncConfig;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let config = SyncConfig::parse();
    lakehouse_telemetry::init_logging("warehouse-sync", config.log_format);
    lakehouse_progress::init(config.quiet);
    let outcome = lakehouse_warehouse_sync::execute(&config).await?;
    Ok(ExitCode::from(outcome.exit_code()))
}
