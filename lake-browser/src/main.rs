//! The lake browser binary: parse the config, start logging, serve until SIGTERM.

use clap::Parser;
use lakehouse_lake_browser::BrowserConfig;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = BrowserConfig::parse();
    lakehouse_telemetry::init_logging("lake-browser", config.log_format);
    let shutdown = CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
    let listener =
        lakehouse_telemetry::bind(config.listen_addr, "its pages, /health, /ready and /metrics").await?;
    lakehouse_lake_browser::serve(config, listener, shutdown).await
}
