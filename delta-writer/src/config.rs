//! The delta-writer's configuration; the defaults write to a local folder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_kafka::{FlushPolicy, KafkaArgs, RunArgs};

use crate::crash::CrashAt;
use crate::gdpr::User;
use crate::query::OutputFormat;
use crate::time_travel::AsOf;
use lakehouse_telemetry::LogFormat;

#[derive(Clone, clap::Parser)]
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
    /// Where `/health`, `/ready` and `/metrics` are served.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9102")]
    pub metrics_addr: SocketAddr,
    /// Commit a file set once it holds this many rows...
    #[arg(long, env = "FLUSH_MAX_ROWS", default_value_t = 200_000)]
    pub flush_max_rows: usize,
    /// ...or this many bytes of event JSON...
    #[arg(long, env = "FLUSH_MAX_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub flush_max_bytes: usize,
    /// ...or when its first event is this old: the lake's latency bound.
    #[arg(long, env = "FLUSH_MAX_AGE_MS", default_value_t = 60_000)]
    pub flush_max_age_ms: u64,
    /// An `event_id` written within this many hours (by arrival time) is not written again.
    #[arg(long, env = "DEDUP_WINDOW_HOURS", default_value_t = 24)]
    pub dedup_window_hours: u32,
    /// At most this many ids are remembered (about 64 bytes each); past it the window shrinks.
    #[arg(long, env = "DEDUP_MAX_IDS", default_value_t = 4_000_000)]
    pub dedup_max_ids: usize,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// For the exactly-once tests only: abort at `<point>:<n>` (see the `crash` module).
    #[arg(long, env = "LAKE_CRASH_AT", hide = true)]
    pub crash_at: Option<CrashAt>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Consume events into the lake (the default).
    Run(RunArgs),
    /// Forget the consumer group's positions on the topic (all its partitions, or those given)
    /// in one commit, so that the next run reads them from the beginning of the log. For a topic
    /// that was recreated.
    ResetOffsets {
        /// Only these partitions (repeatable).
        #[arg(long = "partition")]
        partitions: Vec<i32>,
    },
    /// Run SQL against the events table (registered as `events`) and print the result.
    Query {
        /// For example: SELECT event_type, count(*) FROM events GROUP BY event_type
        sql: String,
        #[command(flatten)]
        at: AsOf,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// List the table's commits, newest first: version, time, operation, metrics.
    History {
        /// Only the newest N commits.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Make an older version the latest, as a new commit (history is kept).
    Restore {
        #[command(flatten)]
        at: AsOf,
        /// Only report what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete data files that no version within the retention still needs.
    Vacuum {
        /// Keep every file a version of the last this-many hours needs.
        #[arg(long, default_value_t = 168)]
        retention_hours: i64,
        /// Vacuum refuses a retention shorter than this: the versions SREs may restore.
        #[arg(long, env = "RESTORE_WINDOW_HOURS", default_value_t = 168)]
        restore_window_hours: i64,
        /// Only list the files that would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compact small files into larger ones, per partition, without changing any row; safe
    /// beside running writers.
    Optimize {
        /// The size files are compacted towards, in bytes.
        #[arg(long, default_value_t = 128 * 1024 * 1024)]
        target_size: u64,
        /// Also order each partition's rows in Z-order over these columns (comma-separated, not
        /// `event_date`), e.g. `project_id,event_type`: queries filtering on them read fewer files.
        #[arg(long, value_delimiter = ',')]
        zorder: Vec<String>,
    },
    /// Print every row of a user (GDPR access request), oldest first.
    ExportUser {
        #[command(flatten)]
        user: User,
        #[command(flatten)]
        at: AsOf,
        #[arg(long, value_enum, default_value = "json")]
        format: OutputFormat,
    },
    /// Remove every row of a user from the latest version (GDPR erasure); older versions keep
    /// them until vacuum, past the restore window.
    DeleteUser {
        #[command(flatten)]
        user: User,
        /// The restore window: vacuum removes the rows from history this long after the deletion.
        #[arg(long, env = "RESTORE_WINDOW_HOURS", default_value_t = 168)]
        restore_window_hours: i64,
        /// Only count the rows.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check the latest version: every file present at its size, the schema, no event twice.
    /// Exits non-zero when it finds a problem.
    Verify {
        #[command(flatten)]
        at: AsOf,
    },
}

/// Where the lake is and how to reach its object store; shared by every lake command.
#[derive(Clone, clap::Args)]
pub struct LakeArgs {
    /// The lake root: `s3://bucket/prefix`, `file:///path` or a local path. The events table is
    /// `<LAKE_URI>/events`.
    #[arg(long, env = "LAKE_URI", default_value = "./data/lake")]
    pub lake_uri: String,
    /// An S3-compatible endpoint (MinIO, moto); unset for AWS S3.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub aws_region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub aws_access_key_id: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<String>,
    /// Write to a store that ignores conditional writes (If-None-Match), which is only safe when
    /// this is the table's one and only writer.
    #[arg(long, env = "LAKE_SINGLE_WRITER")]
    pub single_writer: bool,
    /// A checkpoint every this many commits (`delta.checkpointInterval`, set when the table is
    /// created): readers then replay at most this many log files.
    #[arg(long, env = "CHECKPOINT_INTERVAL", default_value_t = 100)]
    pub checkpoint_interval: u64,
}

impl std::fmt::Debug for LakeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeArgs")
            .field("lake_uri", &self.lake_uri)
            .field("aws_endpoint_url", &self.aws_endpoint_url)
            .field("aws_region", &self.aws_region)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("single_writer", &self.single_writer)
            .field("aws_access_key_id", &self.aws_access_key_id)
            .field(
                "aws_secret_access_key",
                &self.aws_secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl std::fmt::Debug for WriterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterConfig")
            .field("kafka", &self.kafka)
            .field("group_id", &self.group_id)
            .field("lake", &self.lake)
            .field("metrics_addr", &self.metrics_addr)
            .field("policy", &self.flush_policy())
            .finish()
    }
}

impl LakeArgs {
    /// Options for the object store, passed explicitly so that nothing deeper reads the environment.
    pub fn storage_options(&self) -> HashMap<String, String> {
        let mut options = HashMap::from([("AWS_REGION".to_string(), self.aws_region.clone())]);
        if let Some(endpoint) = &self.aws_endpoint_url {
            options.insert("AWS_ENDPOINT_URL".into(), endpoint.clone());
            if endpoint.starts_with("http://") {
                options.insert("AWS_ALLOW_HTTP".into(), "true".into());
            }
            // S3-compatible servers address buckets by path, not by virtual host.
            options.insert("AWS_VIRTUAL_HOSTED_STYLE_REQUEST".into(), "false".into());
        }
        if let Some(key) = &self.aws_access_key_id {
            options.insert("AWS_ACCESS_KEY_ID".into(), key.clone());
        }
        if let Some(secret) = &self.aws_secret_access_key {
            options.insert("AWS_SECRET_ACCESS_KEY".into(), secret.clone());
        }
        options
    }
}

impl WriterConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        anyhow::ensure!(self.flush_max_rows > 0, "FLUSH_MAX_ROWS must be positive");
        anyhow::ensure!(self.flush_max_age_ms > 0, "FLUSH_MAX_AGE_MS must be positive");
        Ok(())
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
        let options = config.lake.storage_options();
        assert_eq!(options["AWS_ALLOW_HTTP"], "true");
        assert_eq!(options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"], "false");
        assert_eq!(options["AWS_ENDPOINT_URL"], "http://127.0.0.1:9000");
        assert!(!format!("{config:?}").contains("hush"));
    }
}
