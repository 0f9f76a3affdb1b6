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

/// The processor's configuration for the test's topic and database, with `extra` arguments
/// (a subcommand and its flags) at the end.
pub fn config(
    stack: &Stack,
    topic: &TestTopic,
    database: &TempDatabase,
    group: &str,
    extra: &[&str],
) -> ProcessorConfig {
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
    args.extend(extra.iter().map(|arg| arg.to_string()));
    ProcessorConfig::parse_from(args)
}

/// Starts a processor of consumer group `group` on the test's topic and database.
pub fn start(stack: &Stack, topic: &TestTopic, database: &TempDatabase, group: &str) -> Running {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(lakehouse_stream_processor::run(
        config(stack, topic, database, group, &[]),
        shutdown.clone(),
    ));
    Running { shutdown, task }
}

/// Runs a processor in drain mode (`run --until-caught-up`) to its end, within [`PATIENCE`].
pub async fn drain(
    stack: &Stack,
    topic: &TestTopic,
    database: &TempDatabase,
    group: &str,
) -> anyhow::Result<()> {
    let config = config(stack, topic, database, group, &["run", "--until-caught-up"]);
    tokio::time::timeout(
        PATIENCE,
        lakehouse_stream_processor::run(config, CancellationToken::new()),
    )
    .await
    .expect("a drain ends by itself")
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

/// What each derived table must hold, recomputed from the raw events, beside what it holds.
const DERIVED: [(&str, &str, &str); 4] = [
    (
        "event_rollups_minute",
        r#"SELECT date_trunc('minute', "timestamp"), project_id, event_type, coalesce(event_name, ''),
                  coalesce(path, ''), count(*), round(coalesce(sum(value), 0)::numeric, 6)
           FROM events GROUP BY 1, 2, 3, 4, 5"#,
        "SELECT bucket, project_id, event_type, event_name, path, events, round(value_sum::numeric, 6)
         FROM event_rollups_minute",
    ),
    (
        "event_dimensions_hourly",
        r#"SELECT date_trunc('hour', e."timestamp"), e.project_id, e.event_type, d.dimension, d.value, count(*),
                  round(coalesce(sum(e.value), 0)::numeric, 6)
           FROM events e CROSS JOIN LATERAL (VALUES
               ('path', e.path), ('referrer_host', lakehouse_referrer_host(e.referrer)), ('browser', e.browser),
               ('os', e.os), ('device_type', e.device_type), ('country', e.country)) AS d(dimension, value)
           WHERE d.value IS NOT NULL GROUP BY 1, 2, 3, 4, 5"#,
        "SELECT bucket, project_id, event_type, dimension, value, events, round(value_sum::numeric, 6)
         FROM event_dimensions_hourly",
    ),
    (
        "unique_ids_hourly",
        r#"SELECT date_trunc('hour', "timestamp"), project_id, 'visitor', visitor_id FROM events WHERE visitor_id IS NOT NULL
           UNION SELECT date_trunc('hour', "timestamp"), project_id, 'session', session_id FROM events"#,
        "SELECT bucket, project_id, kind, id FROM unique_ids_hourly",
    ),
    (
        "funnel_progress",
        r#"SELECT project_id, properties->>'funnel', (properties->>'step')::int, session_id, min("timestamp")
           FROM events WHERE event_type = 'funnel_step' GROUP BY 1, 2, 3, 4"#,
        "SELECT project_id, funnel, step, session_id, first_at FROM funnel_progress",
    ),
];

/// For each derived table that disagrees with a recomputation from the raw events: its name and
/// how many rows differ (missing on either side, or other values).
pub async fn derived_mismatches(pool: &PgPool) -> Vec<(&'static str, i64)> {
    let mut mismatches = Vec::new();
    for (table, expected, actual) in DERIVED {
        let differing: i64 = sqlx::query_scalar(&format!(
            "SELECT (SELECT count(*) FROM (({expected}) EXCEPT ({actual})) AS missing)
                  + (SELECT count(*) FROM (({actual}) EXCEPT ({expected})) AS extra)"
        ))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("compare {table} with the raw events: {e}"));
        if differing != 0 {
            mismatches.push((table, differing));
        }
    }
    mismatches
}

/// The derived tables that hold no row: a comparison with an empty table proves little.
pub async fn empty_derived_tables(pool: &PgPool) -> Vec<&'static str> {
    let mut empty = Vec::new();
    for (table, _, _) in DERIVED {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"));
        if rows == 0 {
            empty.push(table);
        }
    }
    empty
}
