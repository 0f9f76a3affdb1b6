//! The warehouse's stored offsets are the truth, not Kafka's, on real Kafka and PostgreSQL: a
//! warehouse that lost rows and offsets (as after a restore from backup) is refilled from its own
//! stored position even though Kafka's committed offsets are further ahead; and partitions that
//! move between members in a rebalance are continued from the stored position. Nothing is counted
//! twice.

mod common;

use common::start;
use lakehouse_testkit::{
    Stack, TempDatabase, TestTopic, produce, produce_batched, rows_and_offsets, sample_event, stored_offsets,
    unique, wait_for_rows,
};
use sqlx::PgPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warehouse_behind_kafkas_committed_offsets_is_refilled_from_its_own_position() {
    lakehouse_telemetry::init_logging("test", lakehouse_telemetry::LogFormat::Pretty);
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 2).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse");
    let events: Vec<_> = (0..120)
        .map(|i| sample_event(&format!("session-{}", i % 7)))
        .collect();
    produce(&stack, &topic.name, &events).await;

    let processor = start(&stack, &topic, &database, &group);
    let pool = PgPool::connect(&database.url).await.expect("the test database");
    wait_for_rows(&pool, 120).await;
    processor.stop().await;

    // The "restore": partition 0 loses its newest rows and goes back to an older stored offset,
    // while Kafka's committed offset for the group still points past the end.
    let (kept_next, lost): (i64, i64) = sqlx::query_as(
        "WITH p AS (SELECT next_offset / 2 AS keep FROM kafka_offsets WHERE partition = 0),
              gone AS (DELETE FROM events WHERE kafka_partition = 0 AND kafka_offset >= (SELECT keep FROM p) RETURNING 1)
         SELECT (SELECT keep FROM p), (SELECT count(*) FROM gone)",
    )
    .fetch_one(&pool)
    .await
    .expect("delete the newest rows of partition 0");
    sqlx::query("UPDATE kafka_offsets SET next_offset = $1 WHERE partition = 0")
        .bind(kept_next)
        .execute(&pool)
        .await
        .expect("move the stored offset back");
    assert!(lost > 0, "the test must remove rows to mean anything");
    assert_eq!(rows_and_offsets(&pool).await.unwrap().0, 120 - lost);

    // A restarted member of the same group must seek back to the warehouse's position.
    let processor = start(&stack, &topic, &database, &group);
    wait_for_rows(&pool, 120).await;
    processor.stop().await;

    assert_eq!(
        stored_offsets(&pool).await,
        120,
        "the stored offsets cover every message once"
    );
}

/// tansu 0.6 answers a fetch from inside a record batch with the next batch: a position in the
/// middle of one (a batch of the sink ends wherever its flush found it) must still be read from
/// exactly there. The soak lost 7 events to this before the consumer learnt to seek back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_offset_inside_a_record_batch_is_read_from_exactly() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse");
    let pool = PgPool::connect(&database.url).await.expect("the test database");
    let events: Vec<_> = (0..60).map(|i| sample_event(&format!("s-{}", i % 5))).collect();
    produce_batched(&stack, &topic.name, &events).await;
    let processor = start(&stack, &topic, &database, &group);
    wait_for_rows(&pool, 60).await;
    processor.stop().await;

    // Back to offset 31, inside the batch: its rows from there on are gone.
    sqlx::query("DELETE FROM events WHERE kafka_offset >= 31")
        .execute(&pool)
        .await
        .expect("delete the rows from offset 31");
    sqlx::query("UPDATE kafka_offsets SET next_offset = 31")
        .execute(&pool)
        .await
        .expect("move the stored offset back");
    assert_eq!(rows_and_offsets(&pool).await.unwrap().0, 31);

    let processor = start(&stack, &topic, &database, &group);
    // Traffic goes on: the first message the restarted member sees may come from past the position.
    produce(&stack, &topic.name, &[sample_event("after")]).await;
    wait_for_rows(&pool, 61).await;
    processor.stop().await;
    assert_eq!(stored_offsets(&pool).await, 61, "every offset once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_moving_between_members_are_continued_exactly_once() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 4).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse");
    let pool = PgPool::connect(&database.url).await.expect("the test database");
    let batch = |round: usize| -> Vec<_> {
        (0..100)
            .map(|i| sample_event(&format!("s-{round}-{}", i % 9)))
            .collect()
    };

    let first = start(&stack, &topic, &database, &group);
    produce(&stack, &topic.name, &batch(0)).await;
    wait_for_rows(&pool, 100).await;

    // A second member joins: partitions are split between the two while events keep coming.
    let second = start(&stack, &topic, &database, &group);
    produce(&stack, &topic.name, &batch(1)).await;
    wait_for_rows(&pool, 200).await;

    // The first member leaves: the second takes over its partitions where the warehouse stands.
    first.stop().await;
    produce(&stack, &topic.name, &batch(2)).await;
    wait_for_rows(&pool, 300).await;
    second.stop().await;

    assert_eq!(
        stored_offsets(&pool).await,
        300,
        "the stored offsets cover every message once"
    );
    let counted: i64 = sqlx::query_scalar("SELECT sum(events)::bigint FROM event_rollups_minute")
        .fetch_one(&pool)
        .await
        .expect("rollup total");
    assert_eq!(counted, 300, "the rollups count every event once");
}
