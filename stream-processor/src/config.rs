//! The stream-processor's configuration; the defaults run against the local stack.

use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_kafka::{FlushPolicy, KafkaArgs, RunArgs};
use lakehouse_telemetry::{LogFormat, SecretUrl};

use lakehouse_warehouse::grants::{self, Roles};
use lakehouse_warehouse::retention::Retention;
use lakehouse_warehouse::{DerivedTables, LOCAL_DATABASE_URL, MAX_WRITERS};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-stream-processor",
    version,
    about = "Consumes analytics events into PostgreSQL"
)]
pub struct ProcessorConfig {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The consumer group; every replica of the processor shares it.
    #[arg(long, env = "KAFKA_GROUP_ID", default_value = "lakehouse-warehouse")]
    pub group_id: String,
    /// This process's name in the group, for static membership: unique in the group and the same
    /// across restarts of one slot (a pod's name). Unset: a dynamic member.
    #[arg(long, env = "KAFKA_GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = LOCAL_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: SecretUrl,
    /// Where `/health`, `/ready` and `/metrics` are served.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9101")]
    pub metrics_addr: SocketAddr,
    /// Commit a batch once it holds this many events...
    #[arg(long, env = "BATCH_MAX_EVENTS", default_value_t = 5000)]
    pub batch_max_events: usize,
    /// ...or this many bytes of event JSON...
    #[arg(long, env = "BATCH_MAX_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub batch_max_bytes: usize,
    /// ...or when its first event is this old: the warehouse's latency bound.
    #[arg(long, env = "BATCH_MAX_WAIT_MS", default_value_t = 1000)]
    pub batch_max_wait_ms: u64,
    /// Partition writers: a batch's partitions are written in up to this many transactions at
    /// once, each on its own connection (DESIGN.md §7).
    #[arg(long, env = "WAREHOUSE_WRITERS", default_value_t = 2)]
    pub writers: usize,
    /// The derived tables to maintain, comma-separated (all when unset). Switching one off is for
    /// measuring what it costs: it is not maintained until rebuilt (`warehouse-sync rebuild`).
    #[arg(long, env = "DERIVED_TABLES")]
    pub derived_tables: Option<DerivedTables>,
    /// The read-only role (Grafana, analysts) granted SELECT on every table, if it exists.
    #[arg(long, env = "WAREHOUSE_READER_ROLE", default_value = grants::DEFAULT_READER)]
    pub reader_role: String,
    /// The writer role granted SELECT, INSERT, UPDATE, DELETE on every table, if it exists.
    #[arg(long, env = "WAREHOUSE_WRITER_ROLE", default_value = grants::DEFAULT_WRITER)]
    pub writer_role: String,
    /// The role the api's database login is a member of: granted SELECT on `api_keys` and
    /// nothing else, if it exists.
    #[arg(long, env = "WAREHOUSE_KEY_READER_ROLE", default_value = grants::DEFAULT_KEY_READER)]
    pub key_reader_role: String,
    /// Days raw events are kept after they arrived (0: forever). Also the deduplication window,
    /// so at least 1.
    #[arg(long, env = "EVENTS_RETENTION_DAYS", default_value_t = 90)]
    pub events_retention_days: u32,
    /// Days the rollups, breakdowns, unique ids and funnel progress are kept (0: forever).
    #[arg(long, env = "ROLLUPS_RETENTION_DAYS", default_value_t = 0)]
    pub rollups_retention_days: u32,
    /// Seconds between two rounds of retention.
    #[arg(long, env = "RETENTION_INTERVAL_SECS", default_value_t = 3600)]
    pub retention_interval_secs: u64,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Who runs an administrative command (`reset-offsets`), for the audit log; the
    /// operating-system user when not given.
    #[arg(long, env = "LAKEHOUSE_ACTOR", global = true)]
    pub actor: Option<String>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Consume events into the warehouse (the default).
    Run(RunArgs),
    /// Forget the stored offsets of the consumer group on the topic (all partitions, or those
    /// given), so that the next run reads them from the beginning of the log. For a topic that was
    /// recreated; events already stored are not counted again (deduplication by `event_id`,
    /// within the raw events' retention).
    ResetOffsets {
        /// Only these partitions (repeatable).
        #[arg(long = "partition")]
        partitions: Vec<i32>,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// List the audit log (every binary's administrative actions), newest first.
    Audit(AuditArgs),
}

/// Which audit records to list, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
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
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
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

impl ProcessorConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        anyhow::ensure!(self.batch_max_events > 0, "BATCH_MAX_EVENTS must be positive");
        anyhow::ensure!(self.batch_max_wait_ms > 0, "BATCH_MAX_WAIT_MS must be positive");
        anyhow::ensure!(
            (1..=MAX_WRITERS).contains(&self.writers),
            "WAREHOUSE_WRITERS must be between 1 and {MAX_WRITERS}"
        );
        anyhow::ensure!(
            self.retention_interval_secs > 0,
            "RETENTION_INTERVAL_SECS must be positive"
        );
        Ok(())
    }

    /// The derived tables this process maintains.
    pub fn derived_tables(&self) -> DerivedTables {
        self.derived_tables.clone().unwrap_or_default()
    }

    /// Who runs this command: `--actor`, or the operating-system user.
    pub fn actor(&self) -> String {
        self.actor.clone().unwrap_or_else(lakehouse_audit::os_user)
    }

    pub fn roles(&self) -> Roles {
        Roles {
            reader: self.reader_role.clone(),
            writer: self.writer_role.clone(),
            key_reader: self.key_reader_role.clone(),
        }
    }

    /// Retention as configured; 0 days keeps forever.
    pub fn retention(&self) -> Retention {
        let days = |n: u32| (n > 0).then(|| chrono::Duration::days(i64::from(n)));
        Retention {
            events: days(self.events_retention_days),
            derived: days(self.rollups_retention_days),
        }
    }

    pub fn retention_interval(&self) -> Duration {
        Duration::from_secs(self.retention_interval_secs)
    }

    /// The `run` options (defaults when no subcommand was given).
    pub fn run_args(&self) -> RunArgs {
        match &self.command {
            Some(Command::Run(args)) => *args,
            _ => RunArgs::default(),
        }
    }

    pub fn flush_policy(&self) -> FlushPolicy {
        FlushPolicy {
            max_records: self.batch_max_events,
            max_bytes: self.batch_max_bytes,
            max_age: Duration::from_millis(self.batch_max_wait_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use lakehouse_warehouse::DerivedTable;

    #[test]
    fn defaults_parse_and_run_locally() {
        let config = ProcessorConfig::parse_from(["lakehouse-stream-processor"]);
        config.validate().unwrap();
        assert_eq!(config.group_id, "lakehouse-warehouse");
        assert_eq!(config.metrics_addr.port(), 9101);
        assert_eq!(config.flush_policy().max_age, Duration::from_secs(1));
        assert!(!format!("{config:?}").contains("lakehouse:lakehouse@"));
        assert_eq!(config.retention().events, Some(chrono::Duration::days(90)));
        assert_eq!(config.retention().derived, None, "rollups are kept by default");
        assert_eq!(config.roles(), Roles::default());
        assert_eq!(config.derived_tables(), DerivedTables::default());
        let some = ProcessorConfig::parse_from([
            "lakehouse-stream-processor",
            "--derived-tables=funnel_progress,event_rollups_minute",
        ]);
        assert_eq!(
            some.derived_tables().skipped(),
            [DerivedTable::UniqueIds, DerivedTable::Dimensions]
        );
        let none = ProcessorConfig::parse_from(["lakehouse-stream-processor", "--derived-tables="]);
        assert_eq!(none.derived_tables().skipped(), DerivedTable::ALL);
    }
}
