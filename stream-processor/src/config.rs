//! The stream-processor's configuration; the defaults run against the local stack.

use std::time::Duration;

use clap::builder::ArgPredicate;
use lakehouse_kafka::{ConsumerArgs, ConsumerError, KafkaArgs, OldFlushNames, OldName, RunArgs, SinkService};
use lakehouse_telemetry::{LogFormat, SecretUrl};

use lakehouse_warehouse::grants::{self, Roles};
use lakehouse_warehouse::retention::Retention;
use lakehouse_warehouse::{DerivedTables, LOCAL_DATABASE_URL, MAX_WRITERS};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-stream-processor",
    version,
    about = "Consumes analytics events into PostgreSQL",
    // The warehouse's consumer defaults: small batches, committed within a second.
    mut_arg("group_id", |arg| arg.default_value(lakehouse_warehouse::DEFAULT_GROUP_ID)),
    mut_arg("metrics_addr", |arg| arg.default_value("0.0.0.0:9101")),
    mut_arg("flush_max_events", |arg| arg
        .default_value("5000")
        .default_value_if("batch_max_events", ArgPredicate::IsPresent, None)),
    mut_arg("flush_max_bytes", |arg| arg
        .default_value("8388608") // 8 MiB
        .default_value_if("batch_max_bytes", ArgPredicate::IsPresent, None)),
    mut_arg("flush_max_age_ms", |arg| arg
        .default_value("1000")
        .default_value_if("batch_max_wait_ms", ArgPredicate::IsPresent, None)),
)]
pub struct ProcessorConfig {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
    #[command(flatten)]
    pub old_flush: OldBatchNames,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = LOCAL_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: SecretUrl,
    /// Partition writers: a batch's partitions are written in up to this many transactions at
    /// once, each on its own connection (DESIGN.md §7).
    #[arg(long, env = "WAREHOUSE_WRITERS", default_value_t = 2)]
    pub writers: usize,
    /// The derived tables to maintain, comma-separated (all when unset). Switching one off is for
    /// measuring what it costs: it is not maintained until rebuilt (`lakehouse warehouse rebuild`).
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
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// The flush settings under the names the stream-processor read before `FLUSH_MAX_*`.
#[derive(Debug, Clone, clap::Args)]
pub struct OldBatchNames {
    /// `FLUSH_MAX_EVENTS` under its old name.
    #[arg(long, env = "BATCH_MAX_EVENTS", hide = true)]
    pub batch_max_events: Option<usize>,
    /// `FLUSH_MAX_BYTES` under its old name.
    #[arg(long, env = "BATCH_MAX_BYTES", hide = true)]
    pub batch_max_bytes: Option<usize>,
    /// `FLUSH_MAX_AGE_MS` under its old name.
    #[arg(long, env = "BATCH_MAX_WAIT_MS", hide = true)]
    pub batch_max_wait_ms: Option<u64>,
}

impl From<&OldBatchNames> for OldFlushNames {
    fn from(old: &OldBatchNames) -> Self {
        Self {
            max_events: OldName::given("BATCH_MAX_EVENTS", old.batch_max_events),
            max_bytes: OldName::given("BATCH_MAX_BYTES", old.batch_max_bytes),
            max_age_ms: OldName::given("BATCH_MAX_WAIT_MS", old.batch_max_wait_ms),
        }
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Consume events into the warehouse (the default).
    Run(RunArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// A subcommand that moved to `lakehouse` (see [`MOVED`]).
    #[command(external_subcommand)]
    Moved(Vec<String>),
}

/// The stream-processor's old subcommands and where they went.
pub const MOVED: lakehouse_telemetry::Moves = &[
    ("reset-offsets", "lakehouse offsets reset --sink warehouse"),
    ("audit", "lakehouse audit"),
];

impl ProcessorConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        self.consumer.validate(&(&self.old_flush).into())?;
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

    /// The consume loop's service, with the `run` options (defaults when no subcommand was
    /// given); warns about the flush settings given under old names.
    pub fn sink_service(&self) -> Result<SinkService<'_>, ConsumerError> {
        let run = match &self.command {
            Some(Command::Run(args)) => *args,
            _ => RunArgs::default(),
        };
        let old = (&self.old_flush).into();
        self.consumer
            .service(&self.kafka, &old, run, env!("CARGO_PKG_VERSION"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use lakehouse_kafka::FlushPolicy;
    use lakehouse_warehouse::DerivedTable;

    #[test]
    fn defaults_parse_and_run_locally() {
        let config = ProcessorConfig::parse_from(["lakehouse-stream-processor"]);
        config.validate().unwrap();
        assert_eq!(config.consumer.group_id, "lakehouse-warehouse");
        assert_eq!(config.consumer.metrics_addr.port(), 9101);
        assert_eq!(
            config.sink_service().unwrap().policy.max_age,
            Duration::from_secs(1)
        );
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

    /// Each old name of a flush setting still sets it, and is warned about once.
    #[test]
    fn the_batch_names_still_set_the_flush_policy_and_are_warned_about_once_each() {
        let defaults = ProcessorConfig::parse_from(["lakehouse-stream-processor"])
            .sink_service()
            .unwrap()
            .policy;
        let cases = [
            (
                "--batch-max-events=7",
                "BATCH_MAX_EVENTS",
                FlushPolicy {
                    max_records: 7,
                    ..defaults
                },
            ),
            (
                "--batch-max-bytes=7",
                "BATCH_MAX_BYTES",
                FlushPolicy {
                    max_bytes: 7,
                    ..defaults
                },
            ),
            (
                "--batch-max-wait-ms=7",
                "BATCH_MAX_WAIT_MS",
                FlushPolicy {
                    max_age: Duration::from_millis(7),
                    ..defaults
                },
            ),
        ];
        for (flag, name, expected) in cases {
            let config = ProcessorConfig::parse_from(["lakehouse-stream-processor", flag]);
            config.validate().unwrap();
            let (policy, logged) =
                lakehouse_testkit::logs::captured(|| config.sink_service().unwrap().policy);
            assert_eq!(policy, expected, "{name}");
            let warnings: Vec<&str> = logged
                .lines()
                .filter(|line| line.contains("deprecated"))
                .collect();
            assert_eq!(warnings.len(), 1, "{name}: {logged}");
            assert!(
                warnings[0].contains("WARN") && warnings[0].contains(name),
                "{logged}"
            );
        }
        let config = ProcessorConfig::parse_from(["lakehouse-stream-processor"]);
        let (_, logged) = lakehouse_testkit::logs::captured(|| config.sink_service().map(|_| ()));
        assert!(!logged.contains("deprecated"), "{logged}");
        let both = ProcessorConfig::parse_from([
            "lakehouse-stream-processor",
            "--batch-max-events=7",
            "--flush-max-events=8",
        ]);
        let (policy, logged) = lakehouse_testkit::logs::captured(|| both.sink_service().unwrap().policy);
        assert_eq!(policy.max_records, 8, "the new name wins");
        assert_eq!(logged.matches("ignored").count(), 1, "{logged}");
    }
}
