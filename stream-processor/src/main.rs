//! The stream-processor binary: `run` (the default) consumes; `migrate` only migrates. The
//! commands a person runs on the warehouse are under `lakehouse`.

use std::process::ExitCode;

use clap::Parser;
use lakehouse_stream_processor::{Command, MOVED, ProcessorConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let config = ProcessorConfig::parse();
    if let Some(Command::Moved(old)) = &config.command {
        return Ok(lakehouse_telemetry::refuse_moved(
            "lakehouse-stream-processor",
            old,
            MOVED,
        ));
    }
    lakehouse_telemetry::init_logging("stream-processor", config.log_format);
    match &config.command {
        Some(Command::Migrate) => lakehouse_stream_processor::migrate(&config).await?,
        _ => {
            let shutdown = CancellationToken::new();
            tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
            lakehouse_stream_processor::run(config, shutdown).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
