//! `lakehouse`, the one command for everything a person runs on a deployment (DESIGN.md §13):
//! ingest keys, the lake's tools, the warehouse's rebuild and reconcile (§9), a user's export and
//! erasure and the dead-letter queue (§10), the audit log, the sinks' offsets. The procedures
//! that use it are in docs/RUNBOOK.md. It opens the stores through the libraries
//! (`lakehouse-lake`, `lakehouse-warehouse`, `lakehouse-kafka`), never through a service.

pub mod args;
mod commands;
pub mod dlq;
pub mod drift;
pub mod erase;
mod error;
pub mod exit;
pub mod lake;
pub mod lake_tables;
pub(crate) mod listings;
pub mod metrics;
pub mod output;
pub mod rebuild;
pub mod reconcile;
pub mod warehouse;

pub use args::Cli;
pub use commands::{Outcome, execute};
pub use error::{Result, SyncError, TablesRefused};
