//! The dead-letter topic on the real stack: a poison message (an event without `received_at`) is
//! dead-lettered by both consumers; `dlq list` shows each copy with its error and origin; a replay
//! sends nothing while it is still invalid; corrected, it is replayed once for both copies and
//! lands in each store; replayed again, it is still stored once (deduplicated by `event_id`); and
//! every replay is in the audit log.

mod common;

use std::process::Output;

use common::Pipeline;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use lakehouse_testkit::{produce_raw, reference_event};
use serde_json::Value;

/// Runs `lakehouse dlq <args>` against the pipeline's topics (and database, for
/// the audit log of a replay).
async fn dlq(pipeline: &Pipeline, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"));
    command
        .arg("dlq")
        .args(args)
        .args(pipeline.topic.flags(&pipeline.stack))
        .args(["--log-format=pretty", "--actor=oncall"])
        .env("RUST_LOG", "warn");
    if args.first() == Some(&"replay") {
        command.arg(format!("--database-url={}", pipeline.database.url));
    }
    let output = command.output().await.expect("lakehouse runs");
    eprintln!(
        "dlq {args:?}: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "dlq {args:?} failed");
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("JSON")
}

async fn warehouse_copies(pipeline: &mut Pipeline, event_id: uuid::Uuid) -> i64 {
    let pool = pipeline.pool().await;
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(&pool)
        .await
        .expect("a count")
}

async fn lake_copies(pipeline: &Pipeline, event_id: uuid::Uuid) -> i64 {
    let config = pipeline.writer_config(&[]);
    let table = lakehouse_lake::open_at(&config.location(), &Default::default())
        .await
        .expect("the lake");
    let batches = lakehouse_lake::query(
        &table,
        &format!("SELECT count(*) FROM events WHERE CAST(event_id AS VARCHAR) = '{event_id}'"),
    )
    .await
    .expect("a count");
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

async fn drain(pipeline: &Pipeline) {
    pipeline.drain_lake().await;
    pipeline.drain_warehouse().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_listed_fixed_and_replayed_exactly_once() {
    let mut pipeline = Pipeline::new("dlq").await;
    let good: Vec<_> = (0..40).map(|i| reference_event(31, i)).collect();
    pipeline.produce(&good).await;
    // What a producer other than the api might write: an event without its arrival time.
    let event = reference_event(31, 1_000);
    let mut poison = serde_json::to_value(&event).expect("an event");
    poison.as_object_mut().expect("an object").remove("received_at");
    produce_raw(
        &pipeline.stack,
        &pipeline.topic.name,
        &[(event.kafka_key(), poison.to_string().into_bytes())],
    )
    .await;
    drain(&pipeline).await;
    assert_eq!(warehouse_copies(&mut pipeline, event.event_id).await, 0);
    assert_eq!(lake_copies(&pipeline, event.event_id).await, 0);

    // Inspect: each consumer's copy, with the error and where it came from.
    let listed = dlq(&pipeline, &["list", "--output=json"]).await;
    let letters: Vec<Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(letters.len(), 2, "one copy per consumer group");
    for letter in &letters {
        assert!(
            letter["error"]
                .as_str()
                .is_some_and(|e| e.contains("received_at")),
            "{letter}"
        );
        assert_eq!(letter["source_topic"], pipeline.topic.name.as_str());
        assert_eq!(letter["source_offset"], letters[0]["source_offset"]);
        assert_eq!(letter["payload"]["event_id"], event.event_id.to_string());
        assert_eq!(letter["key"], event.kafka_key());
    }
    let table = dlq(&pipeline, &["list"]).await;
    let table = String::from_utf8_lossy(&table.stdout);
    assert_eq!(table.lines().count(), 3, "a header and two dead letters: {table}");
    assert!(table.contains("received_at"), "{table}");

    // Still invalid: nothing is sent.
    let refused = json(&dlq(&pipeline, &["replay", "--all"]).await);
    assert_eq!(refused["selected"], 2);
    assert_eq!(refused["duplicates"], 1);
    assert_eq!(refused["sent"], serde_json::json!([]));
    assert_eq!(refused["still_invalid"].as_array().map(Vec::len), Some(1));
    drain(&pipeline).await;
    assert_eq!(warehouse_copies(&mut pipeline, event.event_id).await, 0);

    // The fix: the arrival time put back into the listed payload, replayed from the file.
    let fixed_dir = std::env::temp_dir().join(lakehouse_testkit::unique("dlq-fixed"));
    std::fs::create_dir_all(&fixed_dir).expect("a folder");
    let fixed = fixed_dir.join("fixed.jsonl");
    let mut correction = letters[0].clone();
    correction["payload"]["received_at"] = Value::String(chrono::Utc::now().to_rfc3339());
    std::fs::write(&fixed, format!("{correction}\n")).expect("the fixed payloads");
    let fixed_flag = format!("--fixed={}", fixed.display());
    let replayed = json(&dlq(&pipeline, &["replay", "--all", &fixed_flag]).await);
    assert_eq!(replayed["sent"].as_array().map(Vec::len), Some(1), "{replayed}");
    assert_eq!(replayed["event_ids"], serde_json::json!([event.event_id]));
    drain(&pipeline).await;
    assert_eq!(warehouse_copies(&mut pipeline, event.event_id).await, 1);
    assert_eq!(lake_copies(&pipeline, event.event_id).await, 1);

    // Replayed again (the partition and offset range of the first copy): still stored once.
    let partition = letters[0]["partition"].as_i64().expect("a partition").to_string();
    let offset = letters[0]["offset"].as_i64().expect("an offset").to_string();
    let again = json(
        &dlq(
            &pipeline,
            &[
                "replay",
                "--partition",
                &partition,
                "--from-offset",
                &offset,
                "--to-offset",
                &offset,
                &fixed_flag,
            ],
        )
        .await,
    );
    assert_eq!(again["selected"], 1);
    assert_eq!(again["sent"].as_array().map(Vec::len), Some(1));
    drain(&pipeline).await;
    assert_eq!(warehouse_copies(&mut pipeline, event.event_id).await, 1);
    assert_eq!(lake_copies(&pipeline, event.event_id).await, 1);
    let (events, rollups) = pipeline.warehouse_counts(None).await;
    assert_eq!((events, rollups), (41, 41));
    assert_eq!(pipeline.lake_count(None).await, 41);

    // Each replay is in the audit log.
    let pool = pipeline.pool().await;
    let records = lakehouse_audit::list(
        &pool,
        &lakehouse_audit::Filter {
            action: Some("dlq.replay".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("the audit log");
    let sent: Vec<usize> = records
        .iter()
        .map(|r| r.result["sent"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sent, [1, 1, 0], "newest first");
    assert!(records.iter().all(|r| r.actor == "oncall" && r.ok));
    std::fs::remove_dir_all(fixed_dir).ok();
}
