//! The delta-writer's configuration; the defaults write to a local folder.

use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_kafka::{FlushPolicy, KafkaArgs, RunArgs};
use lakehouse_lake::{
    CompactionOptions, DEDUP_MAX_IDS, DEDUP_WINDOW_HOURS, DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_LOG_RETENTION_HOURS, DEFAULT_TARGET_SIZE, DedupOptions, LakeLocation, RESTORE_WINDOW_HOURS,
    WriterOptions,
};
use lakehouse_lake_args::LakeArgs;
use lakehouse_telemetry::{LogFormat, SecretUrl};

use crate::cli::Command;
use crate::crash::CrashAt;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-delta-writer",
    version,
    about = "Writes analytics events into a Delta Lake table"
)]
pub struct WriterConfig {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The consumer group; every replica of the writer shares it.
    #[arg(long, env = "KAFKA_GROUP_ID", default_value = "lakehouse-lake")]
    pub group_id: String,
    /// This process's name in the group, for static membership: unique in the group and the same
    /// across restarts of one slot (a pod's name). Unset: a dynamic member.
    #[arg(long, env = "KAFKA_GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    #[command(flatten)]
    pub lake: LakeArgs,
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
    /// Where `/health`, `/ready` and `/metrics` are served.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9102")]
    pub metrics_addr: SocketAddr,
    /// Commit a file set once it holds this many rows...
    #[arg(long, env = "FLUSH_MAX_ROWS", default_value_t = 200_000)]
    pub flush_max_rows: usize,
    /// ...or when the batch holds this many bytes (its Parquet files encoded so far and the
    /// rows not yet encoded)...
    #[arg(long, env = "FLUSH_MAX_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub flush_max_bytes: usize,
    /// ...or when its first event is this old: the lake's latency bound.
    #[arg(long, env = "FLUSH_MAX_AGE_MS", default_value_t = 60_000)]
    pub flush_max_age_ms: u64,
    /// An `event_id` written within this many hours (by arrival time) is not written again.
    #[arg(long, env = "DEDUP_WINDOW_HOURS", default_value_t = DEDUP_WINDOW_HOURS)]
    pub dedup_window_hours: u32,
    /// At most this many ids are remembered (at most 24 bytes each); past it the window shrinks.
    #[arg(long, env = "DEDUP_MAX_IDS", default_value_t = DEDUP_MAX_IDS)]
    pub dedup_max_ids: usize,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// For the exactly-once tests only: abort at `<point>:<n>` (see the `crash` module).
    #[arg(long, env = "LAKE_CRASH_AT", hide = true)]
    pub crash_at: Option<CrashAt>,
    /// The warehouse, where the lake commands record themselves in the audit log. Unset, the
    /// record goes to the log line and the commit's `userMetadata` only.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretUrl>,
    /// Who runs a lake command, for the audit log; the operating-system user when not given.
    #[arg(long, env = "LAKEHOUSE_ACTOR", global = true)]
    pub actor: Option<String>,
}

impl From<&WriterConfig> for WriterOptions {
    fn from(config: &WriterConfig) -> Self {
        Self {
            group: config.group_id.clone(),
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
        anyhow::ensure!(self.flush_max_rows > 0, "FLUSH_MAX_ROWS must be positive");
        anyhow::ensure!(self.flush_max_age_ms > 0, "FLUSH_MAX_AGE_MS must be positive");
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

    /// Who runs this command: `--actor`, or the operating-system user.
    pub fn actor(&self) -> String {
        self.actor.clone().unwrap_or_else(lakehouse_audit::os_user)
    }

    /// Where this command's audit record goes: the warehouse's `audit_log` with `DATABASE_URL`,
    /// the log only without.
    pub fn audit_log(&self) -> anyhow::Result<lakehouse_audit::AuditLog> {
        match &self.database_url {
            Some(url) => Ok(lakehouse_audit::AuditLog::new(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_lazy(url.expose())
                    .map_err(|error| anyhow::anyhow!("DATABASE_URL: {error}"))?,
            )),
            None => {
                tracing::warn!(
                    "DATABASE_URL is not set: the audit record goes to the log and the commit only"
                );
                Ok(lakehouse_audit::AuditLog::log_only())
            }
        }
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
            max_records: self.flush_max_rows,
            max_bytes: self.flush_max_bytes,
            max_age: Duration::from_millis(self.flush_max_age_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_parse_and_write_locally() {
        let config = WriterConfig::parse_from(["lakehouse-delta-writer", "--lake-uri", "./data/lake"]);
        config.validate().unwrap();
        assert_eq!(config.group_id, "lakehouse-lake");
        assert_eq!(config.metrics_addr.port(), 9102);
        assert_eq!(config.flush_policy().max_age, Duration::from_secs(60));
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
}
