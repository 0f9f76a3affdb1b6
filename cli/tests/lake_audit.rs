//! The lake's administrative commands leave a trace in both stores: `lakehouse lake restore`, run as an operator would with `--actor`, writes its record to the warehouse's
//! `audit_log` and the same who/what/arguments into the `userMetadata` of the commit it makes, so
//! that the lake's history says who restored even without the warehouse.

use lakehouse_event::{Batch, Record};
use lakehouse_lake::{AsOf, EventsWriter, LakeLocation, WriterOptions, history, open_at};
use lakehouse_testkit::{Stack, TempDatabase, reference_event, unique};
use serde_json::{Value, json};

/// One commit of `rows` reference events from `first` on.
async fn append(lake: &mut EventsWriter, first: u64, rows: u64) {
    let mut batch = Batch::new("t");
    for index in first..first + rows {
        let event = reference_event(5, index);
        let record = Record {
            event,
            partition: 0,
            offset: index as i64,
        };
        batch.push(record);
    }
    lake.write(&batch).await.expect("a commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_is_in_the_audit_log_and_in_its_commit() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let dir = std::env::temp_dir().join(unique("lake-audit"));
    let location = LakeLocation::new(dir.display().to_string());
    let mut lake = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    append(&mut lake, 0, 10).await; // version 1
    append(&mut lake, 10, 10).await; // version 2

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(["--log-format=pretty", "--actor=sre-9"])
        .args(["lake", "restore", "--version=1"])
        .arg(format!("--lake-uri={}", dir.display()))
        .env("DATABASE_URL", &database.url)
        .output()
        .expect("lakehouse runs");
    assert!(
        output.status.success(),
        "restore failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let pool = sqlx::PgPool::connect(&database.url).await.expect("the database");
    let filter = lakehouse_audit::Filter {
        action: Some("lake.".into()),
        limit: 10,
        ..Default::default()
    };
    let records = lakehouse_audit::list(&pool, &filter)
        .await
        .expect("the audit log");
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(
        (record.actor.as_str(), record.action.as_str(), record.ok),
        ("sre-9", "lake.restore", true)
    );
    assert_eq!(record.arguments["version"], json!(1), "{record:?}");

    let table = open_at(&location, &AsOf::default()).await.expect("the table");
    let newest = history(&table, Some(1)).await.expect("history").remove(0);
    assert_eq!(newest.version, 3, "the restore is a new commit: {newest:?}");
    let note: Value = serde_json::from_str(newest.user_metadata.as_deref().expect("userMetadata"))
        .expect("userMetadata is JSON");
    assert_eq!(note["audit"]["actor"], "sre-9", "{note}");
    assert_eq!(note["audit"]["action"], "lake.restore", "{note}");
    assert_eq!(note["audit"]["arguments"], record.arguments, "{note}");
    std::fs::remove_dir_all(&dir).ok();
}
