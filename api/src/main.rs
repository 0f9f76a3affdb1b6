//! The api binary: parse the config, start logging, serve until SIGTERM; `keys` manages the
//! ingest keys stored in the database.

use clap::Parser;
use lakehouse_api::{ApiCommand, ApiConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ApiConfig::parse();
    lakehouse_telemetry::init_logging("api", config.log_format);
    if let Some(ApiCommand::Keys(command)) = &config.command {
        return lakehouse_api::keys_command(&config, command).await;
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
    let listener =
        lakehouse_telemetry::bind(config.listen_addr, "/analytics, /health, /ready and /metrics").await?;
    lakehouse_api::serve(config, listener, shutdown).await
}
