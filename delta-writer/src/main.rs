//! The delta-writer binary: consumes events into the lake until SIGTERM (`run`, or no
//! subcommand). The lake's tools are `lakehouse lake ...`.

use std::process::ExitCode;

use clap::Parser;
use lakehouse_delta_writer::{Command, MOVED, WriterConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let config = WriterConfig::parse();
    if let Some(Command::Moved(old)) = &config.command {
        return Ok(lakehouse_telemetry::refuse_moved(
            "lakehouse-delta-writer",
            old,
            MOVED,
        ));
    }
    lakehouse_telemetry::init_logging("delta-writer", config.log_format);
    let shutdown = CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
    lakehouse_delta_writer::run(config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
