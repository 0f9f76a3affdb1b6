//! The fold (DESIGN.md §7) on real Kafka and PostgreSQL: a batch's transaction stores its events
//! and offsets and only queues its events for the derived tables; what a processor queued and
//! never folded (it died between its commit and its fold) is folded by the next processor to run,
//! exactly once.

mod common;

use common::drain;
use lakehouse_event::{Batch, Record};
use lakehouse_kafka::BatchSink;
use lakehouse_stream_processor::WarehouseSink;
use lakehouse_testkit::{
    Stack, TempDatabase, TestTopic, derived_mismatches, empty_derived_tables, produce, reference_event,
    rows_and_offsets, unique,
};
use lakehouse_warehouse::Warehouse;
use sqlx::PgPool;

/// Rows of the fold's queue and of each derived table.
async fn queued_and_derived(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM events_to_derive),
                (SELECT count(*) FROM event_rollups_minute) + (SELECT count(*) FROM unique_ids_hourly)
              + (SELECT count(*) FROM funnel_progress) + (SELECT count(*) FROM event_dimensions_hourly)",
    )
    .fetch_one(pool)
    .await
    .expect("counts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_before_a_crash_are_folded_by_the_next_processor_once() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("fold");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;

    // A processor committed a batch of another topic and died before its fold ran.
    let warehouse = Warehouse::connect_lazy(&database.url, &group).expect("a pool");
    warehouse.migrate(&Default::default()).await.expect("migrations");
    let mut batch = Batch::new("before-the-crash");
    for index in 0..300 {
        let record = Record {
            event: reference_event(seed, index),
            partition: 0,
            offset: index as i64,
        };
        batch.push(record);
    }
    WarehouseSink(warehouse.clone())
        .write(&batch)
        .await
        .expect("the batch");
    let pool = warehouse.pool().clone();
    assert_eq!(
        queued_and_derived(&pool).await,
        (300, 0),
        "the batch queued its events and derived nothing"
    );

    // The next processor drains the topic and folds what was queued, its own events included.
    let events: Vec<_> = (300..500).map(|i| reference_event(seed, i)).collect();
    produce(&stack, &topic.name, &events).await;
    drain(&stack, &topic, &database, &group)
        .await
        .expect("a clean drain");
    let (rows, distinct, _) = rows_and_offsets(&pool).await.expect("counts");
    assert_eq!((rows, distinct), (500, 500));
    assert_eq!(queued_and_derived(&pool).await.0, 0, "nothing left queued");
    assert_eq!(empty_derived_tables(&pool).await, Vec::<&str>::new());
    assert_eq!(
        derived_mismatches(&pool).await,
        vec![],
        "every event in every derived table once"
    );
}
