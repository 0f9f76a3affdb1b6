//! warehouse-sync (DESIGN.md §9): rebuilds the warehouse from any version of the lake, and
//! reconciles the two stores; erases or exports a user across both, and inspects and replays the
//! dead-letter topic (DESIGN.md §10). The procedures that use it are in docs/RUNBOOK.md.

mod commands;
mod config;
pub mod dlq;
pub mod drift;
pub mod erase;
mod error;
pub mod lake;
pub mod metrics;
pub mod rebuild;
pub mod reconcile;
pub mod warehouse;

pub use commands::{Outcome, execute};
pub use config::{
    Command, DlqCommand, DlqListArgs, DlqReplayArgs, EraseUserArgs, ExportUserArgs, Format, Hours,
    RebuildArgs, ReconcileArgs, Stores, SyncConfig, WarehouseArgs,
};
pub use error::{Result, SyncError};
