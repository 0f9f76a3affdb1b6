//! The api binary: parse the config, start logging, serve until SIGTERM. The ingest keys stored
//! in the database are managed with `lakehouse keys`.

use std::process::ExitCode;

use clap::Parser;
use lakehouse_api::{ApiCommand, ApiConfig, MOVED};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let config = ApiConfig::parse();
    if let Some(ApiCommand::Moved(old)) = &config.command {
        return Ok(lakehouse_telemetry::refuse_moved("lakehouse-api", old, MOVED));
    }
    lakehouse_telemetry::init_logging("api", config.log_format);
    let shutdown = CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
    let listener =
        lakehouse_telemetry::bind(config.listen_addr, "/analytics, /health, /ready and /metrics").await?;
    lakehouse_api::serve(config, listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
