//! The delta-writer's subcommands: it only runs; the lake's tools are `lakehouse lake ...`.

use lakehouse_kafka::RunArgs;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Consume events into the lake (the default).
    Run(RunArgs),
    /// A subcommand that moved to `lakehouse` (see [`MOVED`]).
    #[command(external_subcommand)]
    Moved(Vec<String>),
}

/// The delta-writer's old subcommands and where they went.
pub const MOVED: lakehouse_telemetry::Moves = &[
    ("reset-offsets", "lakehouse offsets reset --sink lake"),
    ("query", "lakehouse lake query"),
    ("history", "lakehouse lake history"),
    ("restore", "lakehouse lake restore"),
    ("vacuum", "lakehouse lake vacuum"),
    ("optimize", "lakehouse lake optimize"),
    ("verify", "lakehouse lake verify"),
    ("backup", "lakehouse lake backup"),
    ("export-user", "lakehouse user export --lake-only"),
    ("delete-user", "lakehouse user erase --lake-only"),
];
