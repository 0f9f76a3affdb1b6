//! The stream-processor binary: `run` (the default) consumes; `migrate` only migrates;
//! `reset-offsets` forgets stored offsets; `audit` lists the audit log.

use clap::Parser;
use lakehouse_stream_processor::{Command, ProcessorConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ProcessorConfig::parse();
    lakehouse_telemetry::init_logging("stream-processor", config.log_format);
    match &config.command {
        Some(Command::Migrate) => lakehouse_stream_processor::migrate(&config).await,
        Some(Command::Audit(args)) => lakehouse_stream_processor::audit(&config, args).await,
        Some(Command::ResetOffsets { partitions }) => {
            lakehouse_stream_processor::reset_offsets(&config, partitions).await
        }
        Some(Command::Run(_)) | None => {
            let shutdown = CancellationToken::new();
            tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
            lakehouse_stream_processor::run(config, shutdown).await
        }
    }
}
