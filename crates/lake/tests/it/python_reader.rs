//! An external reader checks our table as analysts would: Python `deltalake` (delta-rs's Python
//! package, installed by `scripts/stack`) reads the table the writer made, on S3 (moto) and in a
//! local folder, and finds the rows, the version and the history we wrote.

use lakehouse_lake::{AsOf, CompactionOptions, EventsWriter, LakeLocation, WriterOptions, history, open_at};
use lakehouse_telemetry::Secret;
use lakehouse_testkit::Stack;

use crate::{TempLake, batch};

/// Reads the table at argv[1] with Python deltalake (storage options as JSON in argv[2]; the
/// version in argv[3], if any, else the latest) and prints its version, row count, the rows per
/// event type, its columns with their null counts, and the operations of its history.
const READER: &str = r#"
import json, os, sys
from deltalake import DeltaTable
version = int(sys.argv[3]) if len(sys.argv) > 3 else None
table = DeltaTable(sys.argv[1], version=version, storage_options=json.loads(sys.argv[2]))
data = table.to_pyarrow_table()
types = {}
for value in data.column("event_type").to_pylist():
    types[value] = types.get(value, 0) + 1
print(json.dumps({
    "version": table.version(),
    "rows": data.num_rows,
    "types": types,
    "nulls": {name: data.column(name).null_count for name in data.column_names},
    "operations": [commit["operation"] for commit in table.history()],
}))
sys.stdout.flush()
# Skip the interpreter's teardown: with deltalake 1.6.6 and pyarrow 22 it sometimes aborts
# ("terminate called without an active exception") after the work is done and printed.
os._exit(0)
"#;

/// What Python deltalake reads from the table at `table_uri` (see [`READER`]).
fn read_with_python(stack: &Stack, table_uri: &str, storage: &serde_json::Value) -> serde_json::Value {
    read_version_with_python(stack, table_uri, storage, None)
}

/// What Python deltalake reads from `version` (the latest when `None`) of the table at
/// `table_uri` (see [`READER`]).
pub fn read_version_with_python(
    stack: &Stack,
    table_uri: &str,
    storage: &serde_json::Value,
    version: Option<u64>,
) -> serde_json::Value {
    let mut args = vec![
        "-c".to_string(),
        READER.into(),
        table_uri.into(),
        storage.to_string(),
    ];
    args.extend(version.map(|v| v.to_string()));
    let output = std::process::Command::new(&stack.python)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("run {} (scripts/stack tools installs it): {e}", stack.python));
    assert!(
        output.status.success(),
        "Python deltalake failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the reader")
}

async fn write_and_read_back(location: LakeLocation, storage: serde_json::Value) {
    let stack = Stack::from_env();
    let lake_uri = location.uri.clone();
    let mut lake = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    let seed = 5;
    let mut expected_types = std::collections::BTreeMap::<String, u64>::new();
    for commit in 0..3u64 {
        let batch = batch(seed, commit * 100, 100);
        for record in &batch.records {
            *expected_types.entry(record.event.event_type.clone()).or_default() += 1;
        }
        lake.write(&batch).await.expect("a commit");
    }
    let (_, ours) = latest_history(&location).await;

    let table_uri = format!("{}/events", lake_uri.trim_end_matches('/'));
    let seen = read_with_python(&stack, &table_uri, &storage);
    assert_eq!(seen["version"], 3);
    assert_eq!(seen["rows"], 300);
    assert_eq!(
        seen["types"],
        serde_json::to_value(&expected_types).expect("JSON")
    );
    assert_eq!(seen["operations"], serde_json::to_value(&ours).expect("JSON"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deltalake_reads_a_local_table() {
    let temp = TempLake::new("lake-python");
    write_and_read_back(temp.location.clone(), serde_json::json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deltalake_reads_a_table_on_s3() {
    let (location, storage) = s3_lake(&Stack::from_env(), "python");
    write_and_read_back(location, storage).await;
}

/// A lake under a fresh prefix of the stack's S3 bucket, and the storage options with which Python
/// deltalake reads it.
pub fn s3_lake(stack: &Stack, name: &str) -> (LakeLocation, serde_json::Value) {
    let storage = serde_json::json!({
        "AWS_ENDPOINT_URL": stack.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": stack.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": stack.aws_secret_access_key,
        "AWS_REGION": stack.aws_region,
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    });
    let location = LakeLocation {
        aws_endpoint_url: Some(stack.aws_endpoint_url.clone()),
        aws_region: stack.aws_region.clone(),
        aws_access_key_id: Some(stack.aws_access_key_id.clone()),
        aws_secret_access_key: Some(Secret::new(stack.aws_secret_access_key.clone())),
        ..LakeLocation::new(stack.s3_lake_uri(name))
    };
    (location, storage)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deltalake_reads_a_table_after_compaction_and_log_cleanup() {
    let stack = Stack::from_env();
    let temp = TempLake::new("lake-python");
    let options = WriterOptions {
        checkpoint_interval: 2,
        log_retention: chrono::Duration::zero(),
        compaction: CompactionOptions {
            small_files: 1,
            ..CompactionOptions::default()
        },
        ..WriterOptions::new("g")
    };
    let mut lake = temp.writer(&options).await;
    let mut compactions = 0;
    for commit in 0..6u64 {
        lake.write(&batch(6, commit * 100, 100)).await.expect("a commit");
        if let Some(done) = lake.compaction_finished().await {
            done.expect("a compaction");
            compactions += 1;
        }
    }
    assert!(compactions >= 2, "{compactions} compactions");
    let log = temp.dir.join("events/_delta_log");
    assert!(
        !log.join(format!("{:020}.json", 0)).exists(),
        "the log was cleaned up"
    );
    let (version, ours) = latest_history(&temp.location).await;
    assert!(ours.iter().any(|operation| operation == "OPTIMIZE"), "{ours:?}");

    let table_uri = format!("{}/events", temp.location.uri.trim_end_matches('/'));
    let seen = read_with_python(&stack, &table_uri, &serde_json::json!({}));
    assert_eq!(seen["version"], version);
    assert_eq!(seen["rows"], 600);
    assert_eq!(seen["operations"], serde_json::to_value(&ours).expect("JSON"));
}

/// The latest version and its history's operations, newest first, as our history reads them.
pub async fn latest_history(location: &LakeLocation) -> (u64, Vec<String>) {
    let table = open_at(location, &AsOf::default()).await.expect("the table");
    let operations = history(&table, None)
        .await
        .expect("history")
        .into_iter()
        .map(|c| c.operation)
        .collect();
    (table.version().expect("a version"), operations)
}
