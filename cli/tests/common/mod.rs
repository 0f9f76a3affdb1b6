//! The pipeline the runbook tests run on: the stack's Kafka (a topic of their own), a database of
//! their own, and a lake under a fresh prefix of the stack's S3 bucket; the stream-processor (its
//! binary, built beside the tests) and the delta-writer drain the topic as in production, and
//! `lakehouse` runs as the binary the runbook tells operators to run.

#![allow(dead_code, unused_imports, reason = "each test uses its own part")]

use std::process::Output;

use clap::Parser;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use lakehouse_delta_writer::WriterConfig;
use lakehouse_event::EnrichedEvent;
use lakehouse_lake::{AsOf, open_at, query};
use lakehouse_testkit::service::{drained, processor_args};
use lakehouse_testkit::{Running, Stack, TempDatabase, TestTopic, binary, produce, run_to_end};
use lakehouse_warehouse::Warehouse;
use sqlx::PgPool;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// The stream-processor's consumer group in these tests.
pub const WAREHOUSE_GROUP: &str = "lakehouse-warehouse";

pub struct Pipeline {
    pub stack: Stack,
    pub topic: TestTopic,
    pub database: TempDatabase,
    pub lake_uri: String,
    pool: Option<PgPool>,
}

impl Pipeline {
    pub async fn new(name: &str) -> Self {
        let stack = Stack::from_env();
        let topic = TestTopic::create(&stack, 3).await;
        let database = TempDatabase::create(&stack).await;
        let lake_uri = stack.s3_lake_uri(name);
        Self {
            stack,
            topic,
            database,
            lake_uri,
            pool: None,
        }
    }

    /// A connection pool to the current database.
    pub async fn pool(&mut self) -> PgPool {
        if self.pool.is_none() {
            self.pool = Some(PgPool::connect(&self.database.url).await.expect("the database"));
        }
        self.pool.clone().expect("a pool")
    }

    /// Loses the database (as in a disaster) and creates an empty one in its place.
    pub async fn replace_database(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.close().await;
        }
        self.database = TempDatabase::create(&self.stack).await;
    }

    pub async fn produce(&self, events: &[EnrichedEvent]) {
        produce(&self.stack, &self.topic.name, events).await;
    }

    /// The lake's flags: location and the stack's object store.
    pub fn lake_flags(&self) -> Vec<String> {
        let mut flags = vec![format!("--lake-uri={}", self.lake_uri)];
        flags.extend(self.stack.aws_flags());
        flags
    }

    /// The delta-writer's configuration for this pipeline, with `command` at the end.
    pub fn writer_config(&self, command: &[&str]) -> WriterConfig {
        let mut args = vec!["delta-writer".to_string()];
        args.extend(self.topic.flags(&self.stack));
        args.extend(self.lake_flags());
        args.extend([
            "--group-id=lakehouse-lake".into(),
            "--metrics-addr=127.0.0.1:0".into(),
            "--log-format=pretty".into(),
        ]);
        args.extend(command.iter().map(|arg| arg.to_string()));
        WriterConfig::parse_from(args)
    }

    /// Runs the delta-writer until it has written everything in the topic.
    pub async fn drain_lake(&self) {
        let config = self.writer_config(&["run", "--until-caught-up"]);
        drained(lakehouse_delta_writer::run(config, CancellationToken::new()))
            .await
            .expect("the lake drain succeeds");
    }

    /// The stream-processor's binary on this pipeline, with `command` at the end.
    pub fn processor(&self, command: &[&str]) -> Command {
        let args = processor_args(
            &self.stack,
            &self.topic,
            &self.database.url,
            WAREHOUSE_GROUP,
            command,
        );
        let mut processor = Command::new(binary("lakehouse-stream-processor"));
        processor.args(&args[1..]);
        processor
    }

    /// Starts the stream-processor on this pipeline.
    pub fn start_processor(&self) -> Running {
        Running::spawn(&mut self.processor(&[]), "the stream-processor")
    }

    /// Runs the stream-processor until it has written everything in the topic.
    pub async fn drain_warehouse(&self) {
        run_to_end(
            &mut self.processor(&["run", "--until-caught-up"]),
            "the warehouse drain",
        )
        .await;
    }

    /// The warehouse's migrations, as `lakehouse-stream-processor migrate` applies them.
    pub async fn migrate(&self) {
        Warehouse::connect_lazy(&self.database.url, WAREHOUSE_GROUP)
            .expect("a pool")
            .migrate(&Default::default())
            .await
            .expect("migrations");
    }

    /// `lakehouse lake restore --version N`.
    pub async fn restore_lake(&self, version: u64) {
        let output = self
            .lakehouse(&["lake", "restore", &format!("--version={version}")])
            .await;
        assert!(output.status.success(), "the restore failed: {}", output.status);
    }

    /// The lake's latest version.
    pub async fn lake_version(&self) -> u64 {
        let config = self.writer_config(&[]);
        let table = open_at(&config.location(), &AsOf::default())
            .await
            .expect("the lake");
        table.version().expect("a version")
    }

    /// Rows in the lake's latest version with a timestamp in `[start, end)` (dates), all if `None`.
    pub async fn lake_count(&self, day: Option<&str>) -> i64 {
        let config = self.writer_config(&[]);
        let table = open_at(&config.location(), &AsOf::default())
            .await
            .expect("the lake");
        let filter = day.map_or_else(String::new, |day| format!("WHERE event_date = DATE '{day}'"));
        let batches = query(&table, &format!("SELECT count(*) FROM events {filter}"))
            .await
            .expect("a count");
        batches[0].column(0).as_primitive::<Int64Type>().value(0)
    }

    /// Raw events in the warehouse (of one UTC day if given), and the events its rollups count.
    pub async fn warehouse_counts(&mut self, day: Option<&str>) -> (i64, i64) {
        let pool = self.pool().await;
        let (events, rollups) = match day {
            None => ("".to_string(), "".to_string()),
            Some(day) => (
                format!(r#"WHERE ("timestamp" AT TIME ZONE 'UTC')::date = DATE '{day}'"#),
                format!("WHERE (bucket AT TIME ZONE 'UTC')::date = DATE '{day}'"),
            ),
        };
        sqlx::query_as(&format!(
            "SELECT (SELECT count(*) FROM events {events}),
                    (SELECT coalesce(sum(events), 0)::bigint FROM event_rollups_minute {rollups})"
        ))
        .fetch_one(&pool)
        .await
        .expect("warehouse counts")
    }

    /// A fingerprint of every warehouse table but the offsets, to show that two states are equal.
    pub async fn fingerprint(&mut self) -> String {
        let pool = self.pool().await;
        let mut parts = Vec::new();
        for (table, columns) in [
            (
                "events",
                // Every column but ingested_at, the time of the insert.
                "event_id, project_id, event_type, event_name, session_id, user_id, visitor_id,
                 \"timestamp\", timestamp_clamped, sent_at, received_at, url, host, path, referrer,
                 title, value, properties, browser, os, device_type, country, utm_source,
                 utm_medium, utm_campaign, utm_term, utm_content, schema_version,
                 kafka_partition, kafka_offset",
            ),
            ("event_rollups_minute", "*"),
            ("event_dimensions_hourly", "*"),
            ("unique_ids_hourly", "*"),
            ("funnel_progress", "*"),
        ] {
            let hash: Option<String> = sqlx::query_scalar(&format!(
                "SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM (SELECT {columns} FROM {table}) r"
            ))
            .fetch_one(&pool)
            .await
            .expect("a fingerprint");
            parts.push(format!("{table}={}", hash.unwrap_or_default()));
        }
        parts.join(" ")
    }

    /// Runs `lakehouse <args>` with the pipeline's stores.
    pub async fn lakehouse(&self, args: &[&str]) -> Output {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
            .args(args)
            .arg(format!("--database-url={}", self.database.url))
            .args(self.lake_flags())
            .arg("--log-format=pretty")
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("lakehouse runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        eprintln!(
            "lakehouse {args:?}: {}\n{}\n{}",
            output.status,
            stdout.chars().take(400).collect::<String>(),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `reconcile` over `range` as JSON: the exit code and the report.
    pub async fn reconcile(&self, range: &str) -> (i32, serde_json::Value) {
        let output = self
            .lakehouse(&[
                "warehouse",
                "reconcile",
                &format!("--range={range}"),
                "--output=json",
            ])
            .await;
        let report = serde_json::from_slice(&output.stdout).expect("a JSON report");
        (output.status.code().expect("an exit code"), report)
    }

    /// `rebuild` over `range`; panics unless it succeeds; returns its JSON summary.
    pub async fn rebuild(&self, range: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "warehouse".to_string(),
            "rebuild".to_string(),
            format!("--range={range}"),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.lakehouse(&args).await;
        assert!(output.status.success(), "rebuild failed: {}", output.status);
        serde_json::from_slice(&output.stdout).expect("a JSON summary")
    }
}

/// The drifting rows of a reconcile report: (hour, event type, lake, warehouse, rollups).
pub fn drifting(report: &serde_json::Value) -> Vec<(String, String, i64, i64, i64)> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["drift"] == true)
        .map(|row| {
            (
                row["hour"].as_str().expect("hour").to_string(),
                row["event_type"].as_str().expect("type").to_string(),
                row["lake"].as_i64().expect("lake"),
                row["warehouse"].as_i64().expect("warehouse"),
                row["rollups"].as_i64().expect("rollups"),
            )
        })
        .collect()
}

/// A lake at `dir` of `events` reference events of `seed` (offsets 0.. of partition 0), one commit
/// per `per_commit` events: a table to run the lake's commands on.
pub async fn reference_lake(dir: &std::path::Path, seed: u64, events: u64, per_commit: u64) {
    let location = lakehouse_lake::LakeLocation::new(dir.display().to_string());
    let options = lakehouse_lake::WriterOptions::new("g");
    let mut writer = lakehouse_lake::EventsWriter::open_or_create(&location, &options)
        .await
        .expect("the lake");
    for first in (0..events).step_by(per_commit as usize) {
        let mut batch = lakehouse_event::Batch::new("t");
        for index in first..(first + per_commit).min(events) {
            batch.push(lakehouse_event::Record {
                event: lakehouse_testkit::reference_event(seed, index),
                partition: 0,
                offset: index as i64,
            });
        }
        writer.write(&batch).await.expect("a commit");
    }
}

/// An empty database of its own with the warehouse's migrations applied.
pub async fn migrated_database(stack: &Stack) -> TempDatabase {
    let database = TempDatabase::create(stack).await;
    Warehouse::connect_lazy(&database.url, "g")
        .expect("a pool")
        .migrate(&Default::default())
        .await
        .expect("migrations");
    database
}

/// `lakehouse <args>` (quiet, human logs): its exit code and stdout. It must not fail (exit 1);
/// a refusal (2) is the caller's to judge.
pub fn run_lakehouse(args: &[String]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(args)
        .args(["--log-format=pretty", "--quiet"])
        .output()
        .expect("lakehouse runs");
    assert!(
        matches!(output.status.code(), Some(0 | 2)),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.code(),
        String::from_utf8(output.stdout).expect("UTF-8"),
    )
}

/// `args` then `more`, as owned strings.
pub fn strings(args: &[&str], more: &[String]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string())
        .chain(more.iter().cloned())
        .collect()
}
