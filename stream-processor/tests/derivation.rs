//! The processor aggregates the derived tables' rows in Rust; the warehouse defines the same
//! mapping in SQL (`lakehouse_referrer_host`, `lakehouse_funnel_step`), which the dashboards, the
//! funnel refill of warehouse-sync and the oracle use. Events with awkward referrers and funnel
//! properties go through the processor's code, and what it wrote must equal what the SQL
//! functions compute from the stored raw events.

use lakehouse_kafka::Record;
use lakehouse_stream_processor::grants::Roles;
use lakehouse_stream_processor::{Warehouse, insert_new_events};
use lakehouse_testkit::{Stack, TempDatabase, derived_mismatches_in, sample_event};
use serde_json::json;
use sqlx::PgPool;

const REFERRERS: [&str; 14] = [
    "https://www.Google.com/search?q=x",
    "http://user:pw@Host.example:8080/a",
    "http://a@b@c/",
    "http://user@:80/",
    "http://@host",
    "android-app://com.example.app",
    "HTTPS://ÉCOLE.example/",
    "http://:80/",
    "http:///path",
    "//example.com/",
    "1http://example.com",
    "mailto:someone@example.com",
    "not a url",
    "",
];

fn funnel_properties() -> Vec<serde_json::Value> {
    vec![
        json!({"funnel": "checkout", "step": 1}),
        json!({"funnel": "checkout", "step": "2"}),
        json!({"funnel": "checkout", "step": 999_999_999}),
        json!({"funnel": "checkout", "step": 0}),
        json!({"funnel": "checkout", "step": "03"}),
        json!({"funnel": "checkout", "step": 1_000_000_000}),
        json!({"funnel": "checkout", "step": -1}),
        json!({"funnel": "checkout", "step": 2.5}),
        json!({"funnel": "checkout", "step": true}),
        json!({"funnel": 7, "step": 1}),
        json!({"funnel": ["a"], "step": 1}),
        json!({"step": 1}),
        json!({"funnel": "checkout"}),
    ]
}

#[tokio::test]
async fn the_processors_aggregates_equal_the_warehouses_sql_functions() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    Warehouse::connect_lazy(&database.url, "g")
        .expect("a pool")
        .migrate(&Roles::default())
        .await
        .expect("migrations");
    let pool = PgPool::connect(&database.url).await.expect("the test database");

    let mut records = Vec::new();
    for (offset, referrer) in REFERRERS.iter().enumerate() {
        let mut event = sample_event(&format!("session-{offset}"));
        event.referrer = Some((*referrer).into());
        records.push(event);
    }
    for (offset, properties) in funnel_properties().into_iter().enumerate() {
        let mut event = sample_event(&format!("funnel-{offset}"));
        event.event_type = "funnel_step".into();
        event.properties = properties.as_object().expect("an object").clone();
        records.push(event);
    }
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(offset, event)| Record {
            event,
            partition: 0,
            offset: offset as i64,
        })
        .collect();
    let mut tx = pool.begin().await.expect("a transaction");
    let inserted = insert_new_events(&mut tx, &records).await.expect("the events");
    tx.commit().await.expect("the commit");
    assert_eq!(inserted, records.len() as u64);

    let hosts: Vec<String> = sqlx::query_scalar(
        "SELECT value FROM event_dimensions_hourly WHERE dimension = 'referrer_host' ORDER BY value",
    )
    .fetch_all(&pool)
    .await
    .expect("the referrer breakdown");
    let expected: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT lakehouse_referrer_host(referrer) FROM events
         WHERE lakehouse_referrer_host(referrer) IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("the SQL function's hosts");
    assert_eq!(hosts, expected);
    assert!(hosts.len() >= 6, "most referrers have a host: {hosts:?}");

    let differing: i64 = sqlx::query_scalar(
        r#"WITH expected AS (
               SELECT project_id, properties->>'funnel' AS funnel, lakehouse_funnel_step(properties) AS step,
                      session_id, min("timestamp") AS first_at
               FROM events WHERE event_type = 'funnel_step' AND lakehouse_funnel_step(properties) IS NOT NULL
               GROUP BY 1, 2, 3, 4),
           actual AS (SELECT project_id, funnel, step, session_id, first_at FROM funnel_progress)
           SELECT (SELECT count(*) FROM (TABLE expected EXCEPT TABLE actual) AS missing)
                + (SELECT count(*) FROM (TABLE actual EXCEPT TABLE expected) AS extra)"#,
    )
    .fetch_one(&pool)
    .await
    .expect("the funnel comparison");
    assert_eq!(
        differing, 0,
        "funnel_progress equals lakehouse_funnel_step's reading"
    );
    let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM funnel_progress")
        .fetch_one(&pool)
        .await
        .expect("the funnel rows");
    assert_eq!(steps, 3, "three of the properties name a valid step");

    // The other tables against the oracle, which recomputes them in SQL (its funnel check casts
    // every step, which the invalid ones above would fail).
    assert_eq!(
        derived_mismatches_in(&pool, |table| table != "funnel_progress").await,
        vec![]
    );
}
