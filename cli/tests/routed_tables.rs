//! The lake's tools over a lake `LAKE_TABLES=project` wrote (DESIGN.md §8.6): `lake tables` lists
//! the projects' tables, `--table` points any lake command at one, and a user's export and
//! erasure reach every table their rows can be in.

mod common;

use std::collections::BTreeSet;

use common::{migrated_database, run_lakehouse, strings};
use lakehouse_event::{Batch, Record};
use lakehouse_lake::{LakeLocation, RoutedWriter, Routing, WriterOptions};
use lakehouse_testkit::{Stack, reference_event, unique};

const SUBJECT: &str = "subject-7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_see_every_routed_table_and_a_user_is_erased_from_all() {
    let stack = Stack::from_env();
    let database = migrated_database(&stack).await;
    let dir = std::env::temp_dir().join(unique("routed-tables"));
    let lake = LakeLocation::new(dir.display().to_string());
    let mut writer = RoutedWriter::open(&lake, Routing::Project, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    // 30 events of three projects; the subject has events in two of them.
    let mut batch = Batch::new("t");
    for index in 0..30u64 {
        let mut event = reference_event(11, index);
        event.project_id = ["shop", "docs", "a/../b"][index as usize % 3].into();
        event.user_id = (index % 5 == 0).then(|| SUBJECT.to_string());
        batch.push(Record {
            event,
            partition: 0,
            offset: index as i64,
        });
    }
    writer.write(&batch).await.expect("a routed batch");
    let subject_rows = batch
        .records
        .iter()
        .filter(|r| r.event.user_id.as_deref() == Some(SUBJECT))
        .count();
    let lake_flag = vec![format!("--lake-uri={}", dir.display())];
    let db_flag = vec![format!("--database-url={}", database.url)];

    let (_, listed) = run_lakehouse(&strings(&["lake", "tables", "--output=json"], &lake_flag));
    let tables: BTreeSet<String> = listed
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            row["table"].as_str().expect("a name").to_string()
        })
        .collect();
    let expected: BTreeSet<String> = ["projects/a_2F_2E_2E_2Fb", "projects/docs", "projects/shop"]
        .map(String::from)
        .into();
    assert_eq!(
        tables, expected,
        "the projects' tables, the hostile id inside its folder"
    );

    let count = |table: &str| {
        let (_, csv) = run_lakehouse(&strings(
            &[
                "lake",
                "query",
                "--output=csv",
                "--table",
                table,
                "SELECT count(*) AS n FROM events",
            ],
            &lake_flag,
        ));
        csv.lines()
            .nth(1)
            .expect("a row")
            .trim()
            .parse::<u64>()
            .expect("a count")
    };
    assert_eq!(count("projects/shop"), 10);
    assert_eq!(count("projects/a/../b"), 10, "named as it was sent");
    // The maintenance commands the chart's CronJobs run, over every table.
    let (_, verified) = run_lakehouse(&strings(&["lake", "verify", "--all-tables"], &lake_flag));
    let verified: Vec<serde_json::Value> = verified
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(verified.len(), 3, "one report per table");
    assert!(
        verified.iter().all(|v| v["table"].is_string() && v["rows"] == 10),
        "{verified:?}"
    );
    let (_, optimized) = run_lakehouse(&strings(&["lake", "optimize", "--all-tables"], &lake_flag));
    let optimized: serde_json::Value = serde_json::from_str(&optimized).expect("a JSON result");
    let each: BTreeSet<&str> = optimized
        .as_array()
        .expect("one result per table")
        .iter()
        .map(|t| t["table"].as_str().expect("its table"))
        .collect();
    assert_eq!(each, tables.iter().map(String::as_str).collect());
    // A table that does not exist is an error, not an empty answer; a malformed name is refused.
    let (code, _) = run_lakehouse(&strings(
        &["lake", "history", "--table", "elsewhere/x"],
        &lake_flag,
    ));
    assert_eq!(code, Some(2));

    let (_, export) = run_lakehouse(&strings(
        &["user", "export", "--lake-only", "--user-id", SUBJECT],
        &[lake_flag.clone(), db_flag.clone()].concat(),
    ));
    let export: serde_json::Value = serde_json::from_str(&export).expect("a JSON document");
    assert_eq!(export["lake"].as_array().expect("rows").len(), subject_rows);
    assert!(export.get("warehouse").is_none(), "the warehouse was left out");

    let (_, erased) = run_lakehouse(&strings(
        &["user", "erase", "--lake-only", "--user-id", SUBJECT],
        &[lake_flag.clone(), db_flag].concat(),
    ));
    let erased: serde_json::Value = serde_json::from_str(&erased).expect("a JSON result");
    let per_table = erased["lake_tables"].as_array().expect("per table");
    assert_eq!(per_table.len(), 3, "{erased}");
    let rows: u64 = per_table.iter().map(|t| t["rows"].as_u64().expect("rows")).sum();
    assert_eq!(rows as usize, subject_rows, "{erased}");
    assert_eq!(
        count("projects/shop") + count("projects/docs") + count("projects/a/../b"),
        30 - rows
    );
    std::fs::remove_dir_all(&dir).ok();
}
