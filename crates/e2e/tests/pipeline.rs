//! The walking skeleton, end to end on real components: events posted over HTTP to the api reach
//! Kafka, and each lands exactly once in PostgreSQL (stream-processor) and in the Delta table
//! (delta-writer), on S3 and on a local folder. The stream-processor runs as its binary (built
//! beside the tests), the api and the delta-writer in this process.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Pipeline;
use lakehouse_e2e::lake::Lake;
use lakehouse_lake::LakeLocation;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, unique, wait_until};
use serde_json::{Value, json};
use uuid::Uuid;

const API_KEY: &str = "e2e-secret-key";
const PATIENCE: Duration = Duration::from_secs(60);

fn event(kind: &str, session: &str) -> (Uuid, Value) {
    let id = Uuid::now_v7();
    let body = json!({
        "event_id": id.to_string(),
        "event_type": kind,
        "session_id": session,
        "url": "https://shop.example/products/42",
        "properties": {"source": "e2e"},
    });
    (id, body)
}

/// Posts events in each request form the api takes; returns the ids it accepted.
async fn post_events(pipeline: &Pipeline) -> BTreeSet<Uuid> {
    let mut accepted = BTreeSet::new();

    let (id, single) = event("page_view", "session-a");
    let (status, body) = pipeline.post(&single).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)), "{body}");
    accepted.insert(id);

    let array: Vec<(Uuid, Value)> = (0..3).map(|i| event("click", &format!("session-b{i}"))).collect();
    let mut bodies: Vec<Value> = array.iter().map(|(_, body)| body.clone()).collect();
    bodies.push(json!({"event_type": "click"})); // no session_id: rejected, not stored
    let (status, body) = pipeline.post(&Value::Array(bodies)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["rejected"][0]["field"], "session_id");
    accepted.extend(array.iter().map(|(id, _)| *id));

    let batch: Vec<(Uuid, Value)> = (0..5).map(|_| event("conversion", "session-c")).collect();
    let envelope = json!({"batch": batch.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(), "sent_at": "2026-11-23T10:00:00Z"});
    let (status, body) = pipeline.post(&envelope).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(5)), "{body}");
    accepted.extend(batch.iter().map(|(id, _)| *id));

    accepted
}

async fn warehouse_ids(database: &TempDatabase) -> Result<Vec<Uuid>, String> {
    let pool = sqlx::PgPool::connect(&database.url)
        .await
        .map_err(|e| e.to_string())?;
    let ids = sqlx::query_scalar("SELECT event_id FROM events")
        .fetch_all(&pool)
        .await;
    pool.close().await;
    ids.map_err(|e| e.to_string())
}

async fn stored_offsets_total(database: &TempDatabase) -> i64 {
    let pool = sqlx::PgPool::connect(&database.url)
        .await
        .expect("the test database");
    let total: Option<i64> = sqlx::query_scalar("SELECT sum(next_offset)::bigint FROM kafka_offsets")
        .fetch_one(&pool)
        .await
        .expect("the stored offsets");
    pool.close().await;
    total.unwrap_or(0)
}

async fn lake_ids(lake: &Lake) -> Result<Vec<Uuid>, String> {
    let counts = lake.id_counts().await?;
    Ok(counts
        .into_iter()
        .flat_map(|(id, n)| std::iter::repeat_n(id, n as usize))
        .collect())
}

/// Waits until `ids` (read again and again) holds exactly the expected ids, each once.
async fn wait_for_exactly<F, Fut>(store: &str, expected: &BTreeSet<Uuid>, mut ids: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Uuid>, String>>,
{
    wait_until(
        &format!("{} events in the {store}", expected.len()),
        PATIENCE,
        || {
            let read = ids();
            async move {
                let ids = read.await?;
                let distinct: BTreeSet<Uuid> = ids.iter().copied().collect();
                if ids.len() == expected.len() && &distinct == expected {
                    Ok(())
                } else {
                    Err(format!("{} rows, {} distinct", ids.len(), distinct.len()))
                }
            }
        },
    )
    .await;
}

async fn events_land_exactly_once_in_both_stores(stack: &Stack, lake: Lake) {
    let topic = TestTopic::create(stack, 3).await;
    let database = TempDatabase::create(stack).await;

    let pipeline = Pipeline::start(stack, &topic, &database, &lake.flags(), ("e2e", API_KEY)).await;
    let accepted = post_events(&pipeline).await;
    assert_eq!(accepted.len(), 9);

    wait_for_exactly("warehouse", &accepted, || warehouse_ids(&database)).await;
    wait_for_exactly("lake", &accepted, || lake_ids(&lake)).await;
    // The offsets stored with the rows cover exactly the nine messages of the fresh topic.
    assert_eq!(stored_offsets_total(&database).await, 9);

    pipeline.stop().await;
    // Nothing arrives late: after a clean stop both stores still hold each event once.
    wait_for_exactly("warehouse after stop", &accepted, || warehouse_ids(&database)).await;
    wait_for_exactly("lake after stop", &accepted, || lake_ids(&lake)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_posted_over_http_land_exactly_once_in_postgres_and_a_delta_table_on_s3() {
    let stack = Stack::from_env();
    events_land_exactly_once_in_both_stores(&stack, Lake::on_stack(&stack, "e2e")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_posted_over_http_land_exactly_once_in_postgres_and_a_local_delta_table() {
    let dir = std::env::temp_dir().join(unique("e2e-lake"));
    let lake = Lake::new(LakeLocation::new(dir.display().to_string()));
    events_land_exactly_once_in_both_stores(&Stack::from_env(), lake).await;
    let _ = std::fs::remove_dir_all(dir);
}
