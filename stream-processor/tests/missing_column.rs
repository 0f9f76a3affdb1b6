//! A warehouse that lacks a column the processor writes, on real Kafka and PostgreSQL: the
//! processor refuses to commit rather than freeze silently. `/ready` fails naming the column,
//! nothing past the stored offsets is stored, and once the column is back every event arrives
//! exactly once with the derived tables equal to their recomputation. A processor starting
//! against such a warehouse refuses at start-up.

mod common;

use common::{Running, ready, spawn_processor};
use lakehouse_event::{Batch, EnrichedEvent, OLDEST_SCHEMA_VERSION, Record};
use lakehouse_kafka::BatchSink;
use lakehouse_stream_processor::WarehouseSink;
use lakehouse_testkit::warehouse::{PATIENCE, wait_for_rows_and_offsets};
use lakehouse_testkit::{
    Stack, TempDatabase, TestTopic, assert_exactly_once, produce, reference_event, rows_and_offsets, unique,
    wait_until,
};
use lakehouse_warehouse::grants::Roles;
use lakehouse_warehouse::{Warehouse, WarehouseError};
use sqlx::PgPool;

/// An event as an api of contract version 1 wrote it: no campaign.
fn version_one(mut event: EnrichedEvent) -> EnrichedEvent {
    event.schema_version = OLDEST_SCHEMA_VERSION;
    event.utm_source = None;
    event.utm_medium = None;
    event.utm_campaign = None;
    event.utm_term = None;
    event.utm_content = None;
    event
}

async fn execute(pool: &PgPool, sql: &str) {
    sqlx::query(sql)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_stops_the_commits_loudly_and_nothing_is_lost_once_it_is_back() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 2).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("missing-column");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let Running {
        child: _processor,
        pool,
        port,
    } = spawn_processor(&stack, &topic, &database, &group);
    let http = reqwest::Client::new();

    // Events without a campaign are stored while the schema is whole (dropping the column below
    // takes nothing of theirs).
    let before: Vec<_> = (0..100).map(|i| version_one(reference_event(seed, i))).collect();
    produce(&stack, &topic.name, &before).await;
    wait_for_rows_and_offsets(&pool, 100).await;

    // The column goes behind the processor's back; events with campaigns keep coming.
    execute(&pool, "ALTER TABLE events DROP COLUMN utm_campaign").await;
    let after: Vec<_> = (100..400).map(|i| reference_event(seed, i)).collect();
    let with_campaign = after.iter().filter(|e| e.utm_campaign.is_some()).count() as i64;
    assert!(with_campaign > 0, "the workload gives some sessions a campaign");
    produce(&stack, &topic.name, &after).await;

    let body = wait_until("/ready to fail naming the missing column", PATIENCE, || async {
        match ready(&http, port).await {
            Some((503, body)) if body.contains("events.utm_campaign") => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let checks: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    let sink = checks["checks"]["sink"].as_str().unwrap_or_default();
    assert!(sink.contains("missing events.utm_campaign"), "{body}");
    assert!(sink.contains("lakehouse-stream-processor migrate"), "{body}");
    assert_eq!(
        rows_and_offsets(&pool).await.expect("counts"),
        (100, 100, 100),
        "nothing past the stored offsets is stored while the column is missing"
    );

    execute(&pool, "ALTER TABLE events ADD COLUMN utm_campaign text").await;
    assert_exactly_once(&pool, 400, "every event once after the column is back", PATIENCE).await;
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM events WHERE utm_campaign IS NOT NULL"
        )
        .await,
        with_campaign,
        "the retried batches kept their campaigns"
    );
    assert!(
        count(
            &pool,
            "SELECT count(*) FROM event_dimensions_hourly WHERE dimension = 'utm_campaign'"
        )
        .await
            > 0,
        "conversions by campaign have rows"
    );
    wait_until("/ready to pass again", PATIENCE, || async {
        match ready(&http, port).await {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn a_warehouse_without_a_column_the_code_writes_is_refused_at_start_up() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let warehouse = Warehouse::connect_lazy(&database.url, "g").expect("a pool");
    warehouse.migrate(&Roles::default()).await.expect("migrations");
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    execute(&pool, "ALTER TABLE events DROP COLUMN utm_source").await;

    // The migrations are recorded, so they do not bring it back: the start refuses.
    let error = warehouse
        .migrate(&Roles::default())
        .await
        .expect_err("a warehouse without events.utm_source is refused");
    assert!(matches!(error, WarehouseError::Schema(_)), "{error:?}");
    assert!(error.to_string().contains("missing events.utm_source"), "{error}");

    // A batch written anyway is refused as a schema mismatch, not a passing database error.
    let mut batch = Batch::new("analytics.events");
    batch.push(Record {
        event: reference_event(7, 0),
        partition: 0,
        offset: 0,
    });
    let error = WarehouseSink(warehouse.clone())
        .write(&batch)
        .await
        .expect_err("the commit is refused");
    assert!(error.to_string().contains("missing events.utm_source"), "{error}");
    assert_eq!(rows_and_offsets(&pool).await.expect("counts"), (0, 0, 0));
}
