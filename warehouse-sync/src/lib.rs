//! warehouse-sync (DESIGN.md §9): rebuilds the warehouse from any lake version and reconciles the
//! two stores. This crate holds its configuration so far; `rebuild` and `reconcile` are built on
//! the stream-processor and delta-writer libraries once those are complete.

use lakehouse_telemetry::LogFormat;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-warehouse-sync",
    version,
    about = "Rebuilds and reconciles the warehouse from the lake"
)]
pub struct SyncConfig {
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
}
