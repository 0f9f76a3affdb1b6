//! `lakehouse warehouse ...`: rebuild the warehouse from the lake, reconcile the two, grant or
//! revoke a role that reads one project's rows only, and migrate.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use lakehouse_lake::TablePath;
use lakehouse_lake_args::{AsOfArgs, LakeArgs};
use lakehouse_warehouse::grants::{self, Roles};
use lakehouse_warehouse::range::{HourRange, RangeError, floor_hour};

use super::OutputArgs;
use crate::drift::Threshold;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum WarehouseCommand {
    /// Replace the warehouse's raw events in the range by the lake's and recompute every derived
    /// table for it, in one transaction.
    Rebuild(RebuildArgs),
    /// Compare per-hour event counts (per event type) of the lake with the warehouse's raw events
    /// and its per-minute rollups. Prints the drift; exits with status 2 when a row's difference
    /// passes --threshold.
    Reconcile(ReconcileArgs),
    /// Let a role read one project's rows and nothing else (row-level security on every table
    /// with project data): for a Grafana data source of that project. Makes the role (NOLOGIN)
    /// when it does not exist; a role may read several projects. Idempotent.
    GrantProject(ProjectReaderArgs),
    /// Stop a project reader role reading a project; with no project left it reads nothing.
    /// The role itself stays. Idempotent.
    RevokeProject(ProjectReaderArgs),
    /// Create or update the warehouse's tables, grants and row security, as the
    /// stream-processor does when it starts, and exit. Idempotent.
    Migrate {
        #[command(flatten)]
        warehouse: WarehouseArgs,
        #[command(flatten)]
        shared: SharedRoles,
    },
}

/// A project reader: which role, which project.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectReaderArgs {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[arg(long)]
    pub project_id: String,
    /// The role (a plain lower-case identifier, such as grafana_shop); Grafana's login for the
    /// project is a member of it.
    #[arg(long)]
    pub role: String,
    #[command(flatten)]
    pub shared: SharedRoles,
}

/// The roles that read or write every project (the stream-processor's settings of the same
/// names), which a project reader must be none of.
#[derive(Debug, Clone, clap::Args)]
pub struct SharedRoles {
    /// The shared read-only role (Grafana's shared login, analysts).
    #[arg(long, env = "WAREHOUSE_READER_ROLE", default_value = grants::DEFAULT_READER)]
    pub reader_role: String,
    /// The writer role.
    #[arg(long, env = "WAREHOUSE_WRITER_ROLE", default_value = grants::DEFAULT_WRITER)]
    pub writer_role: String,
    /// The api's key reader role.
    #[arg(long, env = "WAREHOUSE_KEY_READER_ROLE", default_value = grants::DEFAULT_KEY_READER)]
    pub key_reader_role: String,
}

impl From<&SharedRoles> for Roles {
    fn from(shared: &SharedRoles) -> Self {
        Roles {
            reader: shared.reader_role.clone(),
            writer: shared.writer_role.clone(),
            key_reader: shared.key_reader_role.clone(),
        }
    }
}

/// Where the warehouse is.
#[derive(Debug, Clone, clap::Args)]
pub struct WarehouseArgs {
    /// The warehouse (the stream-processor's database), also where the audit log is.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = lakehouse_warehouse::LOCAL_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,
}

/// Where the two stores are.
#[derive(Debug, Clone, clap::Args)]
pub struct Stores {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[command(flatten)]
    pub lake: LakeArgs,
}

/// Which of the lake's tables a rebuild or reconcile reads (DESIGN.md §8.6, §9): every table by
/// default, since with `LAKE_TABLES` the warehouse holds the events of all of them.
#[derive(Debug, Clone, clap::Args)]
pub struct LakeTablesArgs {
    /// Only this table, as `lakehouse lake tables` lists it (`events`, `projects/<project_id>`,
    /// ...), instead of every table. A project's table stands for that project's events in the
    /// warehouse; any other table only when it is the lake's one table (refused otherwise).
    #[arg(long)]
    pub table: Option<TablePath>,
}

/// The hours to work on: `--range`, or the last N whole hours.
#[derive(Debug, Clone, clap::Args)]
pub struct Hours {
    /// START..END, each RFC 3339 (2026-10-20T08:00:00Z) or a date (2026-10-20, midnight UTC);
    /// widened outwards to whole UTC hours. END is exclusive.
    #[arg(long, required_unless_present = "last_hours", conflicts_with = "last_hours")]
    pub range: Option<HourRange>,
    /// Instead of --range: the last N whole hours that ended at least --settle-minutes ago (for a
    /// CronJob).
    #[arg(long, env = "RECONCILE_LAST_HOURS")]
    pub last_hours: Option<u32>,
    /// With --last-hours: how long after an hour ends before it is compared, so that the lake's
    /// writer (which flushes every minute by default) has caught up.
    #[arg(long, env = "RECONCILE_SETTLE_MINUTES", default_value_t = 15)]
    pub settle_minutes: u32,
}

impl Hours {
    /// The range, with `now` for --last-hours.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<HourRange, RangeError> {
        if let Some(range) = self.range {
            return Ok(range);
        }
        let hours = i64::from(self.last_hours.unwrap_or(1));
        let settled = now - Duration::minutes(i64::from(self.settle_minutes));
        let end = floor_hour(settled);
        HourRange::widened(end - Duration::hours(hours), end)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub stores: Stores,
    #[command(flatten)]
    pub hours: Hours,
    #[command(flatten)]
    pub table: LakeTablesArgs,
    /// Compare with the lake at this version or time (default: each table's latest); only with
    /// one table (--table, or a lake that holds one).
    #[command(flatten)]
    pub at: AsOfArgs,
    /// The difference a row (hour, event type) may have: a number of events (10) or a
    /// percentage of the lake's count for that row (0.5%). A row the lake does not have counts
    /// in full.
    #[arg(long, env = "RECONCILE_THRESHOLD", default_value = "0")]
    pub threshold: Threshold,
    /// How the report is printed: a table of the drifting rows and a summary line, the whole
    /// report as one JSON object, or every row as CSV.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print every row, not only those that drift (table output).
    #[arg(long)]
    pub all: bool,
    /// Also write the result as Prometheus metrics to this file (node-exporter textfile
    /// collector).
    #[arg(long, env = "RECONCILE_METRICS_FILE")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub stores: Stores,
    /// START..END, as for reconcile; widened outwards to whole UTC hours.
    #[arg(long)]
    pub range: HourRange,
    #[command(flatten)]
    pub table: LakeTablesArgs,
    /// Rebuild from the lake at this version or time (default: each table's latest); only with
    /// one table (--table, or a lake that holds one).
    #[command(flatten)]
    pub at: AsOfArgs,
    /// Only count what would be deleted and inserted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Group, Output};
    use chrono::TimeZone;
    use clap::Parser;

    #[test]
    fn defaults_parse_and_point_at_the_local_stack() {
        use clap::CommandFactory;
        // The defaults as declared (the environment of a test run may set the variables).
        let command = Cli::command();
        let reconcile = command
            .find_subcommand("warehouse")
            .and_then(|group| group.find_subcommand("reconcile"))
            .expect("reconcile");
        let default = |name: &str| {
            let arg = reconcile
                .get_arguments()
                .find(|a| a.get_id() == name)
                .expect(name);
            arg.get_default_values()[0].to_string_lossy().into_owned()
        };
        assert!(default("database_url").contains("127.0.0.1:5432"));
        assert_eq!(default("lake_uri"), "./data/lake");
        let config = Cli::parse_from(["lakehouse", "warehouse", "reconcile", "--last-hours", "24"]);
        let Group::Warehouse(WarehouseCommand::Reconcile(args)) = config.command else {
            panic!("reconcile")
        };
        assert_eq!(args.threshold, Threshold::Events(0));
        assert_eq!(args.output.output, Output::Table);
    }

    #[test]
    fn last_hours_ends_at_the_last_settled_hour() {
        let hours = Hours {
            range: None,
            last_hours: Some(3),
            settle_minutes: 15,
        };
        let at = |h, m| Utc.with_ymd_and_hms(2026, 10, 20, h, m, 0).unwrap();
        assert_eq!(
            hours.resolve(at(12, 20)).unwrap().to_string(),
            "2026-10-20T09:00:00Z..2026-10-20T12:00:00Z"
        );
        assert_eq!(
            hours.resolve(at(12, 10)).unwrap().to_string(),
            "2026-10-20T08:00:00Z..2026-10-20T11:00:00Z"
        );
    }

    #[test]
    fn a_range_and_a_version_parse_for_rebuild() {
        let config = Cli::parse_from([
            "lakehouse",
            "warehouse",
            "rebuild",
            "--range=2026-10-20..2026-10-21",
            "--version=4",
            "--dry-run",
        ]);
        let Group::Warehouse(WarehouseCommand::Rebuild(args)) = config.command else {
            panic!("rebuild")
        };
        assert_eq!(args.at.version, Some(4));
        assert!(args.dry_run);
        assert_eq!(args.table.table, None, "every table unless one is named");
        let config = Cli::parse_from([
            "lakehouse",
            "warehouse",
            "rebuild",
            "--range=2026-10-20..2026-10-21",
            "--table=projects/a.b",
        ]);
        let Group::Warehouse(WarehouseCommand::Rebuild(args)) = config.command else {
            panic!("rebuild")
        };
        assert_eq!(args.table.table, Some(TablePath::project("a.b")));
        assert!(
            Cli::try_parse_from([
                "lakehouse",
                "warehouse",
                "reconcile",
                "--last-hours=1",
                "--table=x/y"
            ])
            .is_err(),
            "a table name is parsed as the lake commands parse it"
        );
        assert!(Cli::try_parse_from(["lakehouse", "warehouse", "rebuild"]).is_err());
        assert!(Cli::try_parse_from(["lakehouse", "warehouse", "reconcile"]).is_err());
    }

    #[test]
    fn a_project_reader_needs_a_project_and_a_role() {
        let config = Cli::parse_from([
            "lakehouse",
            "warehouse",
            "grant-project",
            "--project-id=shop",
            "--role=grafana_shop",
        ]);
        let Group::Warehouse(WarehouseCommand::GrantProject(args)) = config.command else {
            panic!("grant-project")
        };
        assert_eq!(
            (args.project_id.as_str(), args.role.as_str()),
            ("shop", "grafana_shop")
        );
        for command in ["grant-project", "revoke-project"] {
            assert!(Cli::try_parse_from(["lakehouse", "warehouse", command, "--role=r"]).is_err());
            assert!(Cli::try_parse_from(["lakehouse", "warehouse", command, "--project-id=p"]).is_err());
        }
    }
}
