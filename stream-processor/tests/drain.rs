//! Drain mode and stored offsets past the end of the log, on real Kafka and PostgreSQL: a drain
//! stores everything up to the end of every partition (empty ones included) and exits by itself;
//! a stored offset beyond the log's end (a recreated topic) pauses its partition instead of
//! silently skipping what arrives, until `reset-offsets` forgets it.

mod common;

use common::drain;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, produce, reference_event, rows_and_offsets, unique};
use lakehouse_warehouse::Warehouse;
use sqlx::PgPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_stores_everything_up_to_the_end_and_exits() {
    let stack = Stack::from_env();
    // Six partitions for three events: some partitions are empty, and must not hold the drain.
    let topic = TestTopic::create(&stack, 6).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("drain");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let events: Vec<_> = (0..3).map(|i| reference_event(seed, i)).collect();
    produce(&stack, &topic.name, &events).await;

    drain(&stack, &topic, &database, &group)
        .await
        .expect("a clean drain");
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    assert_eq!(rows_and_offsets(&pool).await.expect("counts"), (3, 3, 3));

    // More events, and a second drain continues from the stored offsets.
    let more: Vec<_> = (3..203).map(|i| reference_event(seed, i)).collect();
    produce(&stack, &topic.name, &more).await;
    drain(&stack, &topic, &database, &group)
        .await
        .expect("a clean drain");
    assert_eq!(rows_and_offsets(&pool).await.expect("counts"), (203, 203, 203));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_offset_past_the_log_end_pauses_the_partition_until_reset() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("past-end");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let events: Vec<_> = (0..5).map(|i| reference_event(seed, i)).collect();
    produce(&stack, &topic.name, &events).await;
    // The warehouse read 1000 messages of a topic that was then recreated with 5.
    let warehouse = Warehouse::connect_lazy(&database.url, &group).expect("a pool");
    warehouse.migrate(&Default::default()).await.expect("migrations");
    sqlx::query(
        "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset) VALUES ($1, $2, 0, 1000)",
    )
    .bind(&group)
    .bind(&topic.name)
    .execute(warehouse.pool())
    .await
    .expect("a stored offset");

    let error = drain(&stack, &topic, &database, &group)
        .await
        .expect_err("the drain reports the partition it could not read");
    assert!(error.to_string().contains("past the end of the log"), "{error:#}");
    let pool = warehouse.pool();
    assert_eq!(
        rows_and_offsets(pool).await.expect("counts"),
        (0, 0, 1000),
        "nothing skipped, nothing moved"
    );

    // What `lakehouse offsets reset --sink warehouse` does.
    warehouse.reset_offsets(&topic.name, &[]).await.expect("reset");
    drain(&stack, &topic, &database, &group)
        .await
        .expect("a clean drain");
    assert_eq!(rows_and_offsets(pool).await.expect("counts"), (5, 5, 5));
}
