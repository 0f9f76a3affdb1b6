//! PostgreSQL goes away while events flow: the processor fails its commits and retries with
//! backoff; once the database is back, every event is stored exactly once. Its own test binary,
//! because it stops the stack's shared PostgreSQL (`scripts/stack stop|start postgres`).

use std::time::Duration;

mod common;

use common::start;
use lakehouse_testkit::faults::{self, Part};
use lakehouse_testkit::{
    Stack, TempDatabase, TestTopic, produce, sample_event, stored_offsets, unique, wait_for_rows, wait_until,
};
use sqlx::PgPool;

const PATIENCE: Duration = Duration::from_secs(90);

async fn postgres(action: &'static str) {
    tokio::task::spawn_blocking(move || faults::stack(action, Part::Postgres))
        .await
        .expect("scripts/stack runs");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_across_a_postgres_restart() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse");
    let processor = start(&stack, &topic, &database, &group);

    let first: Vec<_> = (0..200).map(|i| sample_event(&format!("s-{}", i % 11))).collect();
    produce(&stack, &topic.name, &first).await;
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    wait_for_rows(&pool, 200).await;

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

    wait_for_rows(&pool, 500).await;
    assert_eq!(stored_offsets(&pool).await, 500);
    processor.stop().await;
}
