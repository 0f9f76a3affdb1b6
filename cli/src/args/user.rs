//! `lakehouse user ...`: one user's rows, in both stores or in one (GDPR access and erasure).

use lakehouse_lake_args::{AsOfArgs, EraseArgs, UserArgs};

pub use super::warehouse::Stores;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserCommand {
    /// Print a user's rows as one JSON document: `{"warehouse": [...], "lake": [...]}`, each
    /// store's rows oldest first (GDPR access).
    Export(UserExportArgs),
    /// Erase a user's rows (GDPR erasure): the warehouse's raw events, with the derived rows of
    /// the hours they were in recomputed, then the lake's latest version (older versions keep
    /// them until vacuum, past the restore window).
    Erase(UserEraseArgs),
}

/// Which of the two stores a command works on: both unless one is named.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OneStore {
    /// Only the lake.
    #[arg(long, conflicts_with = "warehouse_only")]
    pub lake_only: bool,
    /// Only the warehouse.
    #[arg(long)]
    pub warehouse_only: bool,
}

impl OneStore {
    pub fn lake(self) -> bool {
        !self.warehouse_only
    }

    pub fn warehouse(self) -> bool {
        !self.lake_only
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct UserExportArgs {
    #[command(flatten)]
    pub stores: Stores,
    #[command(flatten)]
    pub user: UserArgs,
    /// The lake's rows as of this version or time (default: the latest).
    #[command(flatten)]
    pub at: AsOfArgs,
    #[command(flatten)]
    pub only: OneStore,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UserEraseArgs {
    #[command(flatten)]
    pub stores: Stores,
    #[command(flatten)]
    pub erase: EraseArgs,
    #[command(flatten)]
    pub only: OneStore,
}
