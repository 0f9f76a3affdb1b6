//! The warehouse-sync binary. Its subcommands (`rebuild`, `reconcile`) are not built yet: it says
//! so rather than pretend.

use clap::Parser;
use lakehouse_warehouse_sync::SyncConfig;

fn main() -> anyhow::Result<()> {
    let config = SyncConfig::parse();
    lakehouse_telemetry::init_logging("warehouse-sync", config.log_format);
    anyhow::bail!("warehouse-sync has no subcommands yet: rebuild and reconcile are planned (DESIGN.md §9)")
}
