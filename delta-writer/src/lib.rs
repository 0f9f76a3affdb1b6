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

pub use cli::{AsOfArgs, Command, DeleteUserArgs, Format, OptimizeArgs, UserArgs, VacuumArgs};
pub use commands::{execute, reset_offsets};
pub use config::{LakeArgs, WriterConfig};
pub use crash::CrashAt;
pub use service::run;
pub use sink::LakeSink;

// What `crates/e2e/tests/scenario.rs` reads the lake with until it reads through
// `lakehouse-lake` itself; these go with that change.
pub use lakehouse_lake::{EVENTS_TABLE, query, table_url};

/// Opens the events table at `url` with `lake`'s object store (see [`lakehouse_lake::open_table`]).
pub async fn open_table(
    url: url::Url,
    lake: &LakeArgs,
) -> Result<deltalake::DeltaTable, lakehouse_lake::LakeError> {
    lakehouse_lake::open_table(url, &lake.into()).await
}
