//! warehouse-sync (DESIGN.md §9): rebuilds the warehouse from any version of the lake, and
//! reconciles the two stores. The procedures that use it are in docs/RUNBOOK.md.

mod commands;
mod config;
pub mod counts;
pub mod drift;
mod error;
pub mod lake;
pub mod metrics;
pub mod range;
pub mod rebuild;
pub mod reconcile;
pub mod warehouse;

pub use commands::{Outcome, execute};
pub use config::{Command, Format, Hours, RebuildArgs, ReconcileArgs, Stores, SyncConfig};
pub use error::{Result, SyncError};
