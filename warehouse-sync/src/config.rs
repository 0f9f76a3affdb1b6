//! warehouse-sync's configuration: where the warehouse and the lake are, and the subcommand.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use lakehouse_audit::ActorArgs;
use lakehouse_kafka::KafkaArgs;
use lakehouse_lake_args::{AsOfArgs, EraseArgs, LakeArgs, UserArgs};
use lakehouse_telemetry::LogFormat;
use lakehouse_warehouse::range::{HourRange, RangeError, floor_hour};

use crate::dlq::Selection;
use crate::drift::Threshold;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-warehouse-sync",
    version,
    about = "Rebuilds and reconciles the warehouse from the lake (see docs/RUNBOOK.md)"
)]
pub struct SyncConfig {
    #[command(subcommand)]
    pub command: Command,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t, global = true)]
    pub log_format: LogFormat,
    /// Who runs the command, for the audit log (`rebuild`, `erase-user`, `export-user`, `dlq
    /// replay`).
    #[command(flatten)]
    pub actor: ActorArgs,
    /// No progress on stderr: neither the bars a terminal shows nor the line per phase a log gets.
    #[arg(long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Compare per-hour event counts (per event type) of the lake with the warehouse's raw events
    /// and its per-minute rollups. Prints the drift; exits with status 2 when a row's difference
    /// passes --threshold.
    Reconcile(ReconcileArgs),
    /// Replace the warehouse's raw events in the range by the lake's and recompute every derived
    /// table for it, in one transaction.
    Rebuild(RebuildArgs),
    /// Erase a user's rows from both stores (GDPR erasure): the warehouse's raw events, with the
    /// derived rows of the hours they were in recomputed, then the lake's latest version.
    EraseUser(EraseUserArgs),
    /// Print a user's rows from both stores as one JSON document (GDPR access).
    ExportUser(ExportUserArgs),
    /// The dead-letter topic: list what the consumers could not decode, or replay chosen
    /// messages to the events topic once the cause is fixed.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// Where the two stores are (flags after the subcommand's name).
#[derive(Debug, Clone, clap::Args)]
pub struct Stores {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[command(flatten)]
    pub lake: LakeArgs,
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

#[derive(Debug, Clone, clap::Args)]
pub struct EraseUserArgs {
    #[command(flatten)]
    pub stores: Stores,
    #[command(flatten)]
    pub erase: EraseArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportUserArgs {
    #[command(flatten)]
    pub stores: Stores,
    #[command(flatten)]
    pub user: UserArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum DlqCommand {
    /// List every message of the dead-letter topic: where it is, when it was dead-lettered, its
    /// origin (topic, partition, offset) and why it could not be decoded.
    List(DlqListArgs),
    /// Send dead letters (all, or a range of one partition) back to the events topic: each
    /// origin once, only those that now decode as the consumers decode them, with corrected
    /// payloads from --fixed where given. Events are deduplicated by event_id in both stores, so
    /// a replay never counts one twice.
    Replay(DlqReplayArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct DlqListArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// One JSON object per line, payload included (what --fixed reads back, edited).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DlqReplayArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Every dead letter.
    #[arg(long, conflicts_with = "partition", required_unless_present = "partition")]
    pub all: bool,
    /// Only dead letters of this partition of the dead-letter topic...
    #[arg(long)]
    pub partition: Option<i32>,
    /// ...from this offset...
    #[arg(long, requires = "partition", default_value_t = 0)]
    pub from_offset: i64,
    /// ...to this one, inclusive.
    #[arg(long, requires = "partition", default_value_t = i64::MAX)]
    pub to_offset: i64,
    /// Corrected payloads: JSON lines as `dlq list --json` prints them, with `payload` edited.
    #[arg(long)]
    pub fixed: Option<PathBuf>,
    /// Only report what would be sent.
    #[arg(long)]
    pub dry_run: bool,
}

impl DlqReplayArgs {
    pub fn selection(&self) -> Selection {
        match self.partition {
            Some(partition) => Selection::Range {
                partition,
                from: self.from_offset,
                to: self.to_offset,
            },
            None => Selection::All,
        }
    }
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
    /// Compare with the lake at this version or time (default: the latest).
    #[command(flatten)]
    pub at: AsOfArgs,
    /// The difference a row (hour, event type) may have: a number of events (10) or a
    /// percentage of the lake's count for that row (0.5%). A row the lake does not have counts
    /// in full.
    #[arg(long, env = "RECONCILE_THRESHOLD", default_value = "0")]
    pub threshold: Threshold,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Print every row, not only those that drift (table format).
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
    /// Rebuild from the lake at this version or time (default: the latest).
    #[command(flatten)]
    pub at: AsOfArgs,
    /// Only count what would be deleted and inserted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// How reconcile prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table of the drifting rows and a summary line.
    Table,
    /// The whole report as one JSON object.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use clap::Parser;

    #[test]
    fn defaults_parse_and_point_at_the_local_stack() {
        use clap::CommandFactory;
        // The defaults as declared (the environment of a test run may set the variables).
        let command = SyncConfig::command();
        let reconcile = command.find_subcommand("reconcile").expect("reconcile");
        let default = |name: &str| {
            let arg = reconcile
                .get_arguments()
                .find(|a| a.get_id() == name)
                .expect(name);
            arg.get_default_values()[0].to_string_lossy().into_owned()
        };
        assert!(default("database_url").contains("127.0.0.1:5432"));
        assert_eq!(default("lake_uri"), "./data/lake");
        let config = SyncConfig::parse_from(["warehouse-sync", "reconcile", "--last-hours", "24"]);
        let Command::Reconcile(args) = config.command else {
            panic!("reconcile")
        };
        assert_eq!(args.threshold, Threshold::Events(0));
        assert_eq!(args.format, Format::Table);
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
        let config = SyncConfig::parse_from([
            "warehouse-sync",
            "rebuild",
            "--range=2026-10-20..2026-10-21",
            "--version=4",
            "--dry-run",
        ]);
        let Command::Rebuild(args) = config.command else {
            panic!("rebuild")
        };
        assert_eq!(args.at.version, Some(4));
        assert!(args.dry_run);
        assert!(SyncConfig::try_parse_from(["warehouse-sync", "rebuild"]).is_err());
        assert!(SyncConfig::try_parse_from(["warehouse-sync", "reconcile"]).is_err());
    }
}
