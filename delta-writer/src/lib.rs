//! The lake writer of DESIGN.md §8 as a service and a command line: events from Kafka into the
//! events table (the `lakehouse-lake` library) through the shared consume loop, and the lake
//! tooling as subcommands.

mod cli;
mod commands;
mod config;
mod crash;
mod service;
mod sink;
mod table_metrics;

pub use cli::{BackupArgs, Command, DeleteUserArgs, Format, OptimizeArgs, QueryArgs, VacuumArgs};
pub use commands::{execute, reset_offsets};
pub use config::WriterConfig;
pub use crash::CrashAt;
pub use service::run;
pub use sink::LakeSink;
