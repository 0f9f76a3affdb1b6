//! PostgreSQL goes away while events flow: the processor fails its commits and retries with
//! backoff; once the database is back, every event is stored exactly once. Its own test binary,
//! because it stops the stack's shared PostgreSQL (`scripts/stack stop|start postgres`).

use std::time::Duration;

use clap::Parser;
use lakehouse_stream_processor::ProcessorConfig;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, produce, sample_event, unique, wait_until};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(90);

async fn postgres(action: &'static str) {
    // At run time, not `env!`: with a build cache shared between checkouts, the compile-time value
    // can name another checkout (and so another stack).
    let manifest_dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let script = format!("{manifest_dir}/../scripts/stack");
    let status = tokio::process::Command::new(&script)
        .args([action, "postgres"])
        .status()
        .await
        .expect("scripts/stack runs");
    assert!(status.success(), "scripts/stack {action} postgres failed");
}

/// The processor's failed commits so far, from this process's metrics.
fn sink_errors(group: &str) -> u64 {
    let prefix = format!("lakehouse_sink_errors_total{{group=\"{group}\"}} ");
    lakehouse_telemetry::metrics::install_prometheus()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix).and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

async fn counts(pool: &PgPool) -> Result<(i64, i64), String> {
    sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM events")
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_across_a_postgres_restart() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse");
    let mut args = vec!["stream-processor".to_string()];
    args.extend(topic.flags(&stack));
    args.extend([
        format!("--database-url={}", database.url),
        format!("--group-id={group}"),
        "--metrics-addr=127.0.0.1:0".into(),
        "--batch-max-wait-ms=100".into(),
        "--log-format=pretty".into(),
    ]);
    let shutdown = CancellationToken::new();
    let processor = tokio::spawn(lakehouse_stream_processor::run(
        ProcessorConfig::parse_from(args),
        shutdown.clone(),
    ));

    let first: Vec<_> = (0..200).map(|i| sample_event(&format!("s-{}", i % 11))).collect();
    produce(&stack, &topic.name, &first).await;
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    wait_until("the first events stored", PATIENCE, || async {
        match counts(&pool).await? {
            (200, 200) => Ok(()),
            counts => Err(format!("{counts:?}")),
        }
    })
    .await;

    // The database goes away while more events arrive; the processor must notice before it
    // comes back, or the test would prove nothing.
    postgres("stop").await;
    let second: Vec<_> = (0..300).map(|i| sample_event(&format!("t-{}", i % 11))).collect();
    produce(&stack, &topic.name, &second).await;
    wait_until("failed commits while PostgreSQL is down", PATIENCE, || async {
        match sink_errors(&group) {
            0 => Err("none yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    postgres("start").await;

    wait_until(
        "all 500 events stored once after the restart",
        PATIENCE,
        || async {
            match counts(&pool).await? {
                (500, 500) => Ok(()),
                counts => Err(format!("{counts:?}")),
            }
        },
    )
    .await;
    let stored: i64 = sqlx::query_scalar("SELECT sum(next_offset)::bigint FROM kafka_offsets")
        .fetch_one(&pool)
        .await
        .expect("stored offsets");
    assert_eq!(stored, 500);
    shutdown.cancel();
    processor.await.expect("no panic").expect("a clean stop");
}
