//! The lake tooling on a real Delta table in a local folder: history lists every commit; time
//! travel by version and by time reads old states; restore (dry run first) brings an old state
//! back as a new commit; optimize compacts files without changing a row; vacuum refuses to go
//! below the restore window and keeps old versions readable within its retention.

use chrono::{Duration, Utc};
use clap::Parser;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use lakehouse_delta_writer::maintenance::{self, history};
use lakehouse_delta_writer::{AsOf, Lake, WriterConfig, open_at, query};
use lakehouse_kafka::{Batch, BatchSink, Record};
use lakehouse_testkit::{reference_event, unique, wait_until};

struct TempLake {
    config: WriterConfig,
    dir: std::path::PathBuf,
}

impl TempLake {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("lake-tooling"));
        let config = WriterConfig::parse_from([
            "delta-writer".to_string(),
            format!("--lake-uri={}", dir.display()),
            "--group-id=g".into(),
            "--checkpoint-interval=3".into(),
        ]);
        Self { config, dir }
    }

    async fn count(&self, at: AsOf) -> i64 {
        let table = open_at(&self.config.lake, &at).await.expect("the table");
        let batches = query(&table, "SELECT count(*) FROM events")
            .await
            .expect("a count");
        batches[0].column(0).as_primitive::<Int64Type>().value(0)
    }

    fn version(n: u64) -> AsOf {
        AsOf {
            version: Some(n),
            as_of: None,
        }
    }
}

impl Drop for TempLake {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// One commit of `rows` reference events from `first` on, as the writer makes it.
async fn append(lake: &mut Lake, seed: u64, first: u64, rows: u64) {
    let mut batch = Batch::new("t");
    for index in first..first + rows {
        let record = Record {
            event: reference_event(seed, index),
            partition: 0,
            offset: index as i64,
        };
        batch.push(record, 1);
    }
    lake.write(&batch).await.expect("a commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_time_travel_restore_optimize_and_vacuum() {
    let temp = TempLake::new();
    let seed = 11;
    let mut lake = Lake::open_or_create(&temp.config.lake, "g")
        .await
        .expect("the lake");
    append(&mut lake, seed, 0, 100).await; // version 1
    let table = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("the table");
    let after_first = history(&table, Some(1)).await.expect("history")[0]
        .timestamp
        .expect("a commit time");
    // Time travel by time needs the next commit to be later than this one's clock reading.
    wait_until(
        "the clock passes the first commit",
        std::time::Duration::from_secs(5),
        || async {
            (Utc::now() > after_first + Duration::milliseconds(5))
                .then_some(())
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .await;
    append(&mut lake, seed, 100, 50).await; // version 2
    append(&mut lake, seed, 150, 25).await; // version 3

    let table = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("the table");
    let checkpoint = temp
        .dir
        .join("events/_delta_log/00000000000000000002.checkpoint.parquet");
    assert!(checkpoint.exists(), "a checkpoint after every third commit");
    let commits = history(&table, None).await.expect("history");
    let versions: Vec<u64> = commits.iter().map(|c| c.version).collect();
    assert_eq!(versions, [3, 2, 1, 0]);
    assert_eq!(commits[0].operation, "WRITE");
    assert_eq!(commits[3].operation, "CREATE TABLE");

    assert_eq!(temp.count(AsOf::default()).await, 175);
    assert_eq!(temp.count(TempLake::version(1)).await, 100);
    assert_eq!(temp.count(TempLake::version(2)).await, 150);
    let as_of_first = AsOf {
        version: None,
        as_of: Some(after_first),
    };
    assert_eq!(
        temp.count(as_of_first).await,
        100,
        "as of the first commit's time"
    );

    // Restore: the dry run changes nothing, the real one commits version 4 = version 1.
    let latest = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("latest");
    let target = open_at(&temp.config.lake, &TempLake::version(1))
        .await
        .expect("v1");
    let dry = maintenance::restore(latest, &target, true)
        .await
        .expect("a dry run");
    assert_eq!((dry.from_version, dry.to_version, dry.new_version), (3, 1, None));
    assert!(dry.files_removed >= 2, "{dry:?}");
    assert_eq!(
        temp.count(AsOf::default()).await,
        175,
        "a dry run changes nothing"
    );
    let latest = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("latest");
    let done = maintenance::restore(latest, &target, false)
        .await
        .expect("a restore");
    assert_eq!(done.new_version, Some(4));
    assert_eq!(temp.count(AsOf::default()).await, 100);
    assert_eq!(temp.count(TempLake::version(3)).await, 175, "history is kept");

    // Optimize: fewer files, the same rows.
    append(&mut lake, seed, 1_000, 30).await; // version 5
    append(&mut lake, seed, 2_000, 30).await; // version 6
    let before = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("latest");
    let files_before = before.get_file_uris().expect("files").count();
    let ids_before = ids(&before).await;
    let optimized = maintenance::optimize(before, 64 * 1024 * 1024)
        .await
        .expect("optimize");
    assert!(optimized.files_removed > optimized.files_added, "{optimized:?}");
    let after = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("latest");
    assert!(after.get_file_uris().expect("files").count() < files_before);
    assert_eq!(ids(&after).await, ids_before, "optimize changes no row");
    let commits = history(&after, Some(1)).await.expect("history");
    assert_eq!(commits[0].operation, "OPTIMIZE");

    // Vacuum: never below the restore window; within its retention old versions stay readable.
    let table = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("latest");
    let refused = maintenance::vacuum(table, Duration::hours(1), Duration::hours(168), false)
        .await
        .expect_err("below the restore window");
    assert!(refused.to_string().contains("restore window"), "{refused}");
    let table = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("latest");
    let dry = maintenance::vacuum(table, Duration::zero(), Duration::zero(), true)
        .await
        .expect("a dry run");
    assert!(
        !dry.files.is_empty(),
        "restore and optimize left unreferenced files"
    );
    let table = open_at(&temp.config.lake, &AsOf::default())
        .await
        .expect("latest");
    let kept = maintenance::vacuum(table, Duration::hours(1), Duration::hours(1), false)
        .await
        .expect("a vacuum");
    assert_eq!(
        kept.files,
        Vec::<String>::new(),
        "every file is younger than an hour"
    );
    assert_eq!(
        temp.count(TempLake::version(3)).await,
        175,
        "time travel still works"
    );
}

async fn ids(table: &deltalake::DeltaTable) -> Vec<String> {
    let batches = query(table, "SELECT CAST(event_id AS VARCHAR) FROM events ORDER BY 1")
        .await
        .expect("ids");
    batches
        .iter()
        .flat_map(|b| {
            let column =
                deltalake::arrow::compute::cast(b.column(0), &deltalake::arrow::datatypes::DataType::Utf8)
                    .expect("strings");
            column
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}
