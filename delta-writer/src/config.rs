//! The delta-writer's configuration; the defaults write to a local folder.

use clap::builder::ArgPredicate;
use lakehouse_kafka::{ConsumerArgs, ConsumerError, KafkaArgs, OldFlushNames, OldName, RunArgs, SinkService};
use lakehouse_lake::{
    CompactionOptions, DEDUP_MAX_IDS, DEDUP_WINDOW_HOURS, DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_LOG_RETENTION_HOURS, DEFAULT_TARGET_SIZE, DedupOptions, LakeLocation, RESTORE_WINDOW_HOURS,
    Routing, WriterOptions,
};
use lakehouse_lake_args::LakeArgs;
use lakehouse_telemetry::LogFormat;

use crate::cli::Command;
use crate::crash::CrashAt;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-delta-writer",
    version,
    about = "Writes analytics events into a Delta Lake table",
    // The lake's consumer defaults: large batches, hence few files, within a minute.
    mut_arg("group_id", |arg| arg.default_value(lakehouse_lake::DEFAULT_GROUP_ID)),
    mut_arg("metrics_addr", |arg| arg.default_value("0.0.0.0:9102")),
    mut_arg("flush_max_events", |arg| arg
        .default_value("200000")
        .default_value_if("flush_max_rows", ArgPredicate::IsPresent, None)),
    mut_arg("flush_max_bytes", |arg| arg.default_value("33554432")), // 32 MiB
    mut_arg("flush_max_age_ms", |arg| arg.default_value("60000")),
)]
pub struct WriterConfig {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
    /// `FLUSH_MAX_EVENTS` under its old name.
    #[arg(long, env = "FLUSH_MAX_ROWS", hide = true)]
    pub flush_max_rows: Option<usize>,
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Which table each event goes to: `events` (every event in `<LAKE_URI>/events`), `project`
    /// (`<LAKE_URI>/projects/<project_id>/events`), `event_type`, or rules, the first that matches
    /// naming the table: `event_type in (signup, purchase) => conversions; * => events`
    /// (DESIGN.md §8.6). Set it on a new lake (or a new KAFKA_GROUP_ID): the routed tables keep
    /// their offsets apart from `events`'.
    #[arg(long, env = "LAKE_TABLES", default_value = "events")]
    pub lake_tables: Routing,
    /// A checkpoint every this many commits (`delta.checkpointInterval`, set when the table is
    /// created): readers then replay at most this many log files.
    #[arg(long, env = "CHECKPOINT_INTERVAL", default_value_t = DEFAULT_CHECKPOINT_INTERVAL)]
    pub checkpoint_interval: u64,
    /// Log files older than this many hours that no newer version needs are removed after each
    /// checkpoint (`delta.logRetentionDuration`, set when the table is created). At least the
    /// restore window, so that every version within it stays readable.
    #[arg(long, env = "LOG_RETENTION_HOURS", default_value_t = DEFAULT_LOG_RETENTION_HOURS)]
    pub log_retention_hours: i64,
    /// Compact a day partition the writer fills once it holds more than this many small files,
    /// in the background (0: never; run `optimize` instead).
    #[arg(long, env = "COMPACT_SMALL_FILES", default_value_t = 0)]
    pub compact_small_files: usize,
    /// Files below this size are small; compaction writes files of about this size.
    #[arg(long, env = "COMPACT_TARGET_SIZE", default_value_t = DEFAULT_TARGET_SIZE)]
    pub compact_target_size: u64,
    /// An `event_id` written within this many hours (by arrival time) is not written again.
    #[arg(long, env = "DEDUP_WINDOW_HOURS", default_value_t = DEDUP_WINDOW_HOURS)]
    pub dedup_window_hours: u32,
    /// At most this many ids are remembered (at most 24 bytes each); past it the window shrinks.
    #[arg(long, env = "DEDUP_MAX_IDS", default_value_t = DEDUP_MAX_IDS)]
    pub dedup_max_ids: usize,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// How often the lake's tables are read for the `lakehouse_lake_*` gauges, in milliseconds
    /// (hidden: the tests shorten it).
    #[arg(long, env = "LAKE_STATS_INTERVAL_MS", hide = true,
          default_value_t = crate::table_metrics::INTERVAL.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub lake_stats_interval_ms: u64,
    /// For the exactly-once tests only: abort at `<point>:<n>` (see the `crash` module).
    #[arg(long, env = "LAKE_CRASH_AT", hide = true)]
    pub crash_at: Option<CrashAt>,
}

impl From<&WriterConfig> for WriterOptions {
    fn from(config: &WriterConfig) -> Self {
        Self {
            group: config.consumer.group_id.clone(),
            checkpoint_interval: config.checkpoint_interval,
            log_retention: chrono::Duration::hours(config.log_retention_hours),
            compaction: CompactionOptions {
                small_files: config.compact_small_files,
                target_size: config.compact_target_size,
            },
            dedup: DedupOptions {
                window: chrono::Duration::hours(i64::from(config.dedup_window_hours)),
                max_ids: config.dedup_max_ids,
            },
        }
    }
}

impl WriterConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        self.consumer.validate(&self.old_flush_names())?;
        anyhow::ensure!(
            self.log_retention_hours >= RESTORE_WINDOW_HOURS,
            "LOG_RETENTION_HOURS must be at least the restore window ({RESTORE_WINDOW_HOURS} hours): \
             versions within it must stay readable"
        );
        Ok(())
    }

    /// The lake's location and object store.
    pub fn location(&self) -> LakeLocation {
        (&self.lake).into()
    }

    /// The consume loop's service, with the `run` options (defaults when no subcommand was
    /// given); warns about the flush settings given under old names.
    pub fn sink_service(&self) -> Result<SinkService<'_>, ConsumerError> {
        let run = match &self.command {
            Some(Command::Run(args)) => *args,
            _ => RunArgs::default(),
        };
        let old = self.old_flush_names();
        self.consumer
            .service(&self.kafka, &old, run, env!("CARGO_PKG_VERSION"))
    }

    fn old_flush_names(&self) -> OldFlushNames {
        OldFlushNames {
            max_events: OldName::given("FLUSH_MAX_ROWS", self.flush_max_rows),
            ..OldFlushNames::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[test]
    fn defaults_parse_and_write_locally() {
        let config = WriterConfig::parse_from(["lakehouse-delta-writer", "--lake-uri", "./data/lake"]);
        config.validate().unwrap();
        assert_eq!(config.consumer.group_id, "lakehouse-lake");
        assert_eq!(config.consumer.metrics_addr.port(), 9102);
        assert_eq!(
            config.sink_service().unwrap().policy.max_age,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn an_http_endpoint_allows_http_and_path_style_requests() {
        let config = WriterConfig::parse_from([
            "lakehouse-delta-writer",
            "--aws-endpoint-url=http://127.0.0.1:9000",
            "--aws-secret-access-key=hush",
        ]);
        let options = config.location().storage_options();
        assert_eq!(options["AWS_ALLOW_HTTP"], "true");
        assert_eq!(options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"], "false");
        assert_eq!(options["AWS_ENDPOINT_URL"], "http://127.0.0.1:9000");
        assert!(!format!("{config:?}").contains("hush"));
    }

    #[test]
    fn a_log_retention_shorter_than_the_restore_window_is_refused() {
        let config = WriterConfig::parse_from(["lakehouse-delta-writer", "--log-retention-hours=24"]);
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("restore window"), "{error}");
        let config = WriterConfig::parse_from(["lakehouse-delta-writer", "--log-retention-hours=168"]);
        config.validate().unwrap();
    }

    #[test]
    fn the_writer_options_default_to_the_libraries() {
        let config = WriterConfig::parse_from(["lakehouse-delta-writer", "--group-id=g"]);
        assert_eq!(WriterOptions::from(&config), WriterOptions::new("g"));
    }

    #[test]
    fn flush_max_rows_still_sets_the_events_per_batch_and_is_warned_about_once() {
        let config = WriterConfig::parse_from(["lakehouse-delta-writer", "--flush-max-rows=40"]);
        config.validate().unwrap();
        let (policy, logged) = lakehouse_testkit::logs::captured(|| config.sink_service().unwrap().policy);
        assert_eq!(policy.max_records, 40);
        let warnings: Vec<&str> = logged
            .lines()
            .filter(|line| line.contains("deprecated"))
            .collect();
        assert_eq!(warnings.len(), 1, "{logged}");
        assert!(
            warnings[0].contains("WARN") && warnings[0].contains("FLUSH_MAX_ROWS"),
            "{logged}"
        );
        assert!(warnings[0].contains("FLUSH_MAX_EVENTS"), "{logged}");
        let both = WriterConfig::parse_from([
            "lakehouse-delta-writer",
            "--flush-max-rows=40",
            "--flush-max-events=50",
        ]);
        let (policy, logged) = lakehouse_testkit::logs::captured(|| both.sink_service().unwrap().policy);
        assert_eq!(policy.max_records, 50, "the new name wins");
        assert_eq!(logged.matches("ignored").count(), 1, "{logged}");
    }
}
