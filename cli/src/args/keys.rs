//! `lakehouse keys ...`: the ingest keys stored in the warehouse's `api_keys`.

use super::{OutputArgs, WarehouseArgs};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key for a project; the key is printed once (only its SHA-256 is stored).
    Create {
        #[command(flatten)]
        warehouse: WarehouseArgs,
        #[arg(long)]
        project_id: String,
        /// What the key is for (e.g. "web app").
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List every key (without the keys): id, project, name, prefix, created, revoked.
    List {
        #[command(flatten)]
        warehouse: WarehouseArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke a key by its id; the api stops accepting it within API_KEYS_REFRESH_SECS.
    Revoke {
        #[command(flatten)]
        warehouse: WarehouseArgs,
        id: uuid::Uuid,
    },
}
