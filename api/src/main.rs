//! The api binary: parse the config, start logging, serve until SIGTERM.

use clap::Parser;
use lakehouse_api::ApiConfig;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ApiConfig::parse();
    lakehouse_telemetry::init_logging("api", config.log_format);
    let shutdown = CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
    lakehouse_api::serve(config, listener, shutdown).await
}
