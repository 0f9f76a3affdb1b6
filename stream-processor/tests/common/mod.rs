//! What the stream-processor's integration tests share: a processor running in this process, and
//! what the warehouse holds.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use clap::Parser;
use lakehouse_stream_processor::ProcessorConfig;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, wait_until};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// How long a test waits for the warehouse to reach the expected state.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A stream-processor running in this process.
pub struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts a processor of consumer group `group` on the test's topic and database.
pub fn start(stack: &Stack, topic: &TestTopic, database: &TempDatabase, group: &str) -> Running {
    let mut args = vec!["stream-processor".to_string()];
    args.extend(topic.flags(stack));
    args.extend([
        format!("--database-url={}", database.url),
        format!("--group-id={group}"),
        "--metrics-addr=127.0.0.1:0".into(),
        "--batch-max-wait-ms=100".into(),
        "--batch-max-events=50".into(),
        "--log-format=pretty".into(),
    ]);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(lakehouse_stream_processor::run(
        ProcessorConfig::parse_from(args),
        shutdown.clone(),
    ));
    Running { shutdown, task }
}

impl Running {
    /// Stops the processor and expects a clean exit.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("no panic").expect("a clean stop");
    }
}

/// Rows in `events`, distinct `event_id`s among them, and the sum of the stored next offsets
/// (for a fresh topic: how many messages the stored offsets cover).
pub async fn rows_and_offsets(pool: &PgPool) -> Result<(i64, i64, i64), String> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT event_id) FROM events),
                (SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offsets)",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())
}

/// Waits until `events` holds `expected` rows, each `event_id` once.
pub async fn wait_for_rows(pool: &PgPool, expected: i64) {
    wait_until(&format!("{expected} rows, each once"), PATIENCE, || async {
        match rows_and_offsets(pool).await? {
            (rows, distinct, _) if rows == expected && distinct == expected => Ok(()),
            (rows, distinct, _) => Err(format!("{rows} rows, {distinct} distinct")),
        }
    })
    .await;
}

/// The sum of the stored next offsets.
pub async fn stored_offsets(pool: &PgPool) -> i64 {
    rows_and_offsets(pool).await.expect("stored offsets").2
}
