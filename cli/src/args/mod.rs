//! The `lakehouse` command line: one group per thing an operator looks after, the same flag for
//! the same thing everywhere (DESIGN.md §13): `--project-id` and `--user-id`, `--version`/`--as-of`
//! for a table version, `--output table|json|csv` on every listing, `--dry-run` for a change only
//! reported. `--log-format`, `--quiet` and `--actor` are global: before or after the subcommand.
//! Where the stores are comes from each command's own flags (or their environment variables, as
//! the services read them).

mod dlq;
mod keys;
mod lake;
mod offsets;
mod user;
mod warehouse;

use std::path::PathBuf;

pub use dlq::{DlqCommand, DlqListArgs, DlqReplayArgs};
pub use keys::KeysCommand;
pub use lake::{
    AuditDatabase, BackupArgs, LakeCommand, OptimizeArgs, QueryArgs, SomeTables, TableArgs, VacuumArgs,
};
use lakehouse_audit::ActorArgs;
pub use lakehouse_lake_args::{AsOfArgs, LakeArgs, UserArgs};
use lakehouse_telemetry::LogFormat;
pub use offsets::{OffsetsCommand, Sink};
pub use user::{Stores, UserCommand, UserEraseArgs, UserExportArgs};
pub use warehouse::{
    Hours, LakeTablesArgs, ProjectReaderArgs, RebuildArgs, ReconcileArgs, SharedRoles, WarehouseArgs,
    WarehouseCommand,
};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse",
    version,
    about = "Everything a person runs on a lakehouse deployment (docs/RUNBOOK.md)",
    long_about = "Everything a person runs on a lakehouse deployment: ingest keys, the lake's tools, \
        the warehouse's rebuild and reconcile, a user's export and erasure, the dead-letter queue, \
        the audit log and the sinks' offsets (docs/RUNBOOK.md).\n\n\
        Exit status: 0 done; 1 failed; 2 refused (a usage error, a query or retention refused, \
        reconcile's drift past the threshold).",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Group,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// The flags every command takes, before or after its name.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// How log lines are written: `auto` (human on a terminal, JSON otherwise), `json`, `pretty`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t, global = true)]
    pub log_format: LogFormat,
    /// No progress on stderr: neither the bars a terminal shows nor the line per phase a log gets.
    #[arg(long, global = true)]
    pub quiet: bool,
    #[command(flatten)]
    pub actor: ActorArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Group {
    /// The ingest keys stored in the warehouse: create, list, revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The lake's Delta table: query it, read its history, check, compact, vacuum, restore, back up.
    #[command(subcommand)]
    Lake(LakeCommand),
    /// The warehouse: rebuild it from the lake, reconcile it with the lake.
    #[command(subcommand)]
    Warehouse(WarehouseCommand),
    /// One user's rows (GDPR): export them, erase them, from both stores or one.
    #[command(subcommand)]
    User(UserCommand),
    /// The dead-letter topic: list what the consumers could not decode, replay it once fixed.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// List the audit log (every administrative action), newest first.
    Audit(AuditArgs),
    /// The sinks' stored positions on the topic.
    #[command(subcommand)]
    Offsets(OffsetsCommand),
    /// Print a shell completion script: `lakehouse completions bash > /etc/bash_completion.d/lakehouse`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a man page for the command and every subcommand into a folder.
    ManPages {
        /// The folder (made when missing), e.g. /usr/local/share/man/man1.
        #[arg(long)]
        out: PathBuf,
    },
}

/// How a listing is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// An aligned text table.
    #[default]
    Table,
    /// One JSON object per line.
    Json,
    /// CSV with a header line.
    Csv,
}

/// `--output`, as every listing takes it.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OutputArgs {
    /// How the listing is printed.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

/// Which audit records to list, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Only this action (`lake.vacuum`), or every action under a prefix ending in a dot (`lake.`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only actions of this actor.
    #[arg(long = "by")]
    pub by: Option<String>,
    /// Only actions from this time on (RFC 3339).
    #[arg(long)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many records.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl From<&AuditArgs> for lakehouse_audit::Filter {
    fn from(args: &AuditArgs) -> Self {
        Self {
            action: args.action.clone(),
            actor: args.by.clone(),
            since: args.since,
            limit: args.limit,
        }
    }
}
