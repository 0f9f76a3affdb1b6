//! The delta-writer binary: `run` (the default) consumes events into the lake until SIGTERM;
//! `reset-offsets` forgets stored offsets; `query`, `history`, `restore`, `vacuum`, `optimize`,
//! `export-user`, `delete-user` and `verify` are the lake tooling.

use clap::Parser;
use lakehouse_delta_writer::{Command, WriterConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = WriterConfig::parse();
    lakehouse_telemetry::init_logging("delta-writer", config.log_format);
    lakehouse_progress::init(config.quiet);
    match &config.command {
        Some(Command::ResetOffsets { partitions }) => {
            lakehouse_delta_writer::reset_offsets(&config, partitions).await
        }
        Some(Command::Run(_)) | None => {
            let shutdown = CancellationToken::new();
            tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
            lakehouse_delta_writer::run(config, shutdown).await
        }
        Some(command) => lakehouse_delta_writer::execute(&config, command).await,
    }
}
