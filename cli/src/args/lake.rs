//! `lakehouse lake ...`: the lake's tools, each converted into the lake library's options.

use chrono::Duration;
use lakehouse_lake::{
    DEFAULT_QUERY_MEMORY_LIMIT_MIB, DEFAULT_QUERY_TIMEOUT, DEFAULT_TARGET_SIZE, LakeLocation, MIB,
    OptimizeOptions, QueryOptions, RESTORE_WINDOW_HOURS, TablePath, VacuumOptions,
};
use lakehouse_lake_args::{AsOfArgs, LakeArgs};
use lakehouse_telemetry::{Secret, SecretUrl};

use super::OutputArgs;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum LakeCommand {
    /// Run one read-only SQL query against the events table (registered as `events`) and print
    /// the result. Anything else (COPY, CREATE EXTERNAL TABLE, DDL, DML, SET, several statements)
    /// is refused. It runs on threads of its own within a timeout and a memory limit; Ctrl-C or
    /// SIGTERM stops it.
    Query {
        /// For example: SELECT event_type, count(*) FROM events GROUP BY event_type
        sql: String,
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        at: AsOfArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        limits: QueryArgs,
    },
    /// List the lake's tables: `events`, and those `LAKE_TABLES` routed events to.
    Tables {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List the table's commits, newest first: version, time, operation, who, metrics.
    History {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        table: TableArgs,
        /// Only the newest N commits.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List what changed between two versions, by day and event type: rows added and removed.
    Diff {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        table: TableArgs,
        /// The older version.
        #[arg(long)]
        from_version: u64,
        /// The newer version (default: the latest).
        #[arg(long)]
        to_version: Option<u64>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Check a version (the latest by default): every file present at its size, the schema, no
    /// event twice. Exits 1 when it finds a problem.
    Verify {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        table: SomeTables,
        #[command(flatten)]
        at: AsOfArgs,
    },
    /// Make an older version the latest, as a new commit (history is kept).
    #[command(group(clap::ArgGroup::new("target").args(["version", "as_of"]).required(true)))]
    Restore {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        at: AsOfArgs,
        /// Only report what would change.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        audit: AuditDatabase,
    },
    /// Delete data files that no version within the retention still needs.
    Vacuum(VacuumArgs),
    /// Compact small files into larger ones, per partition, without changing any row; safe
    /// beside running writers.
    Optimize(OptimizeArgs),
    /// Copy the table (data files and log) to a second location, copying only what the copy
    /// lacks; run the other way (LAKE_URI the copy, --to the original) it restores the lake
    /// (docs/RUNBOOK.md, "the lake's bucket is gone").
    Backup(BackupArgs),
}

/// Which of the lake's tables a command works on (DESIGN.md §8.6).
#[derive(Debug, Clone, clap::Args)]
pub struct TableArgs {
    /// The table: `events` (the lake's own), `projects/<project_id>`, `event_types/<event_type>`
    /// or `tables/<name>`, as `lakehouse lake tables` lists them.
    #[arg(long, default_value = "events")]
    pub table: TablePath,
}

impl TableArgs {
    /// Where the table is.
    pub fn location(&self, lake: &LakeArgs) -> LakeLocation {
        self.table.location(&lake.into())
    }
}

/// The tables a maintenance command works on: one (`--table`), or every table of the lake
/// (`--all-tables`, what the chart's CronJobs run).
#[derive(Debug, Clone, clap::Args)]
pub struct SomeTables {
    #[command(flatten)]
    pub one: TableArgs,
    /// Every table of the lake (`lakehouse lake tables`), one after the other.
    #[arg(long, conflicts_with = "table")]
    pub all_tables: bool,
}

impl SomeTables {
    /// The tables chosen, in the lake at `lake`.
    pub async fn paths(&self, lake: &LakeLocation) -> Result<Vec<TablePath>, lakehouse_lake::LakeError> {
        if self.all_tables {
            lakehouse_lake::tables(lake).await
        } else {
            Ok(vec![self.one.table.clone()])
        }
    }
}

/// Where a lake command records itself in the audit log.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditDatabase {
    /// The warehouse, whose `audit_log` records the command. Unset, the record goes to the log
    /// line and the commit's `userMetadata` only.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretUrl>,
}

/// `query`'s limits.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// Stop the query (and fail) when it runs longer than this many seconds.
    #[arg(long, default_value_t = DEFAULT_QUERY_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: u64,
    /// The memory (MiB) the query may hold; it may spill as much again to a temporary directory.
    /// A query that needs more is stopped (and fails).
    #[arg(long, default_value_t = DEFAULT_QUERY_MEMORY_LIMIT_MIB as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_limit_mib: u64,
}

impl From<&QueryArgs> for QueryOptions {
    fn from(args: &QueryArgs) -> Self {
        Self {
            concurrency: 1,
            timeout: Some(std::time::Duration::from_secs(args.timeout_secs)),
            memory_limit_bytes: usize::try_from(args.memory_limit_mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(MIB),
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub table: SomeTables,
    /// Keep every file a version of the last this-many hours needs.
    #[arg(long, default_value_t = RESTORE_WINDOW_HOURS)]
    pub retention_hours: i64,
    /// Vacuum refuses a retention shorter than this: the versions SREs may restore.
    #[arg(long, env = "RESTORE_WINDOW_HOURS", default_value_t = RESTORE_WINDOW_HOURS)]
    pub restore_window_hours: i64,
    /// Only list the files that would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub audit: AuditDatabase,
}

impl From<&VacuumArgs> for VacuumOptions {
    fn from(args: &VacuumArgs) -> Self {
        Self {
            retention: Duration::hours(args.retention_hours),
            restore_window: Duration::hours(args.restore_window_hours),
            dry_run: args.dry_run,
            user_metadata: None,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct OptimizeArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub table: SomeTables,
    /// The size files are compacted towards, in bytes.
    #[arg(long, default_value_t = DEFAULT_TARGET_SIZE)]
    pub target_size: u64,
    /// Also order each partition's rows in Z-order over these columns (comma-separated, not
    /// `event_date`), e.g. `project_id,event_type`: queries filtering on them read fewer files.
    #[arg(long, value_delimiter = ',')]
    pub zorder: Vec<String>,
    #[command(flatten)]
    pub audit: AuditDatabase,
}

impl From<&OptimizeArgs> for OptimizeOptions {
    fn from(args: &OptimizeArgs) -> Self {
        Self {
            target_size: args.target_size,
            zorder: args.zorder.clone(),
            ..OptimizeOptions::default()
        }
    }
}

/// Where `backup` copies to: the S3 settings default to the lake's own (a second bucket on the
/// same store).
#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub table: TableArgs,
    /// The copy's lake root (`s3://other-bucket/prefix`, `file:///path`); the table is
    /// `<to>/events`.
    #[arg(long, env = "BACKUP_LAKE_URI")]
    pub to: String,
    #[arg(long, env = "BACKUP_AWS_ENDPOINT_URL")]
    pub to_aws_endpoint_url: Option<String>,
    #[arg(long, env = "BACKUP_AWS_REGION")]
    pub to_aws_region: Option<String>,
    #[arg(long, env = "BACKUP_AWS_ACCESS_KEY_ID")]
    pub to_aws_access_key_id: Option<String>,
    #[arg(long, env = "BACKUP_AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub to_aws_secret_access_key: Option<Secret>,
    /// After copying, check the copy as `verify` does; exits 1 on a problem.
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub audit: AuditDatabase,
}

impl BackupArgs {
    /// The copy's location: what is given, else the lake's own settings.
    pub fn location(&self, lake: &lakehouse_lake::LakeLocation) -> lakehouse_lake::LakeLocation {
        lakehouse_lake::LakeLocation {
            uri: self.to.clone(),
            aws_endpoint_url: self
                .to_aws_endpoint_url
                .clone()
                .or_else(|| lake.aws_endpoint_url.clone()),
            aws_region: self
                .to_aws_region
                .clone()
                .unwrap_or_else(|| lake.aws_region.clone()),
            aws_access_key_id: self
                .to_aws_access_key_id
                .clone()
                .or_else(|| lake.aws_access_key_id.clone()),
            aws_secret_access_key: self
                .to_aws_secret_access_key
                .clone()
                .or_else(|| lake.aws_secret_access_key.clone()),
            single_writer: false,
        }
    }
}
