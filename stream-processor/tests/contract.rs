//! Events of a contract version this build does not know, on real Kafka and PostgreSQL (the
//! consume loop is the one both sinks share): the partition stops at the first such event, with
//! everything before it stored and nothing after it, `/ready` fails its `schema` check, and the
//! other partitions go on. Nothing is dropped, skipped or sent to the dead-letter topic.

mod common;

use common::{Running, drain, ready, spawn_processor};
use lakehouse_event::{EnrichedEvent, SCHEMA_VERSION};
use lakehouse_testkit::warehouse::{PATIENCE, wait_for_rows_and_offsets};
use lakehouse_testkit::{
    Stack, TempDatabase, TestTopic, produce, produce_raw, produce_raw_to, reference_event, rows_and_offsets,
    unique, wait_until,
};
use sqlx::PgPool;

/// An event as a newer api would write it: a version above ours with a field we do not know.
fn newer(event: &EnrichedEvent) -> (String, Vec<u8>) {
    let mut value = serde_json::to_value(event).expect("an event serialises");
    value["schema_version"] = (SCHEMA_VERSION + 1).into();
    value["utm_future"] = "a field of the next version".into();
    (event.kafka_key(), serde_json::to_vec(&value).expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_stops_at_an_event_of_an_unknown_version_with_everything_before_it_stored() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("contract");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let before: Vec<_> = (0..5).map(|i| reference_event(seed, i)).collect();
    let after: Vec<_> = (6..9).map(|i| reference_event(seed, i)).collect();
    produce(&stack, &topic.name, &before).await;
    produce_raw(&stack, &topic.name, &[newer(&reference_event(seed, 5))]).await;
    produce(&stack, &topic.name, &after).await;

    let error = drain(&stack, &topic, &database, &group)
        .await
        .expect_err("the drain names the partition it could not read");
    assert!(
        error
            .to_string()
            .contains("contract version this build does not know"),
        "{error:#}"
    );
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    assert_eq!(
        rows_and_offsets(&pool).await.expect("counts"),
        (5, 5, 5),
        "the five events before it stored, the offset left at it, nothing after it"
    );
}

/// Each event as the api writes it: its key and its JSON.
fn encoded(events: &[EnrichedEvent]) -> Vec<(String, Vec<u8>)> {
    events
        .iter()
        .map(|event| (event.kafka_key(), serde_json::to_vec(event).expect("JSON")))
        .collect()
}

/// The next offset the warehouse stored for `partition`.
async fn stored_next(pool: &PgPool, partition: i32) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(next_offset), 0) FROM kafka_offsets WHERE partition = $1")
        .bind(partition)
        .fetch_one(pool)
        .await
        .expect("the stored offset")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sink_holding_an_unknown_version_is_not_ready_and_reads_other_partitions() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 2).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("contract-ready");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let Running {
        child: _processor,
        pool,
        port,
    } = spawn_processor(&stack, &topic, &database, &group);
    let http = reqwest::Client::new();
    let events =
        |range: std::ops::Range<u64>| encoded(&range.map(|i| reference_event(seed, i)).collect::<Vec<_>>());

    produce_raw_to(&stack, &topic.name, 0, &events(0..20)).await;
    produce_raw_to(&stack, &topic.name, 1, &events(20..40)).await;
    wait_for_rows_and_offsets(&pool, 40).await;
    // Partition 0 meets an event of a newer version, then more of ours; partition 1 only ours.
    produce_raw_to(&stack, &topic.name, 0, &[newer(&reference_event(seed, 40))]).await;
    produce_raw_to(&stack, &topic.name, 0, &events(41..51)).await;
    produce_raw_to(&stack, &topic.name, 1, &events(51..61)).await;

    let body = wait_until("/ready to fail its schema check", PATIENCE, || async {
        match ready(&http, port).await {
            Some((503, body)) if body.contains("schema_version 3") => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let checks: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_ne!(checks["checks"]["schema"], "ok", "{body}");
    assert!(body.contains("partition 0 at offset 20"), "{body}");
    // What LakehouseNotReady watches.
    let metrics = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("the metrics");
    let gauge = metrics
        .lines()
        .find(|line| line.starts_with("lakehouse_ready_check{") && line.contains("check=\"schema\""))
        .unwrap_or_else(|| panic!("no schema check gauge in\n{metrics}"));
    assert!(gauge.ends_with(" 0"), "{gauge}");

    // Partition 1 goes on; partition 0 stores nothing from the newer event on.
    wait_until("partition 1's new events", PATIENCE, || async {
        match stored_next(&pool, 1).await {
            30 => Ok(()),
            next => Err(format!("partition 1 stored up to {next}")),
        }
    })
    .await;
    assert_eq!(
        stored_next(&pool, 0).await,
        20,
        "partition 0 waits at the newer event"
    );
    assert_eq!(rows_and_offsets(&pool).await.expect("counts"), (50, 50, 50));
    assert!(
        matches!(ready(&http, port).await, Some((503, _))),
        "still not ready while the partition is held"
    );
}
