//! Compaction beside the writer, on a real table in a local folder: through a long run of
//! commits the day partition the writer fills never holds more than a few files, and two
//! writers compacting the same partition while both keep committing lose no event and write
//! none twice. `optimize` takes its turn with them through the same claim in the log.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::protocol::{DeltaOperation, SaveMode};
use lakehouse_lake::{
    AsOf, ClaimHeld, CompactionOptions, EventsWriter, OptimizeOptions, WriterOptions, event_id_counts,
    history, open_at, optimize, verify,
};

use crate::{TempLake, arrived, data_files, offered};

const SMALL_FILES: usize = 3;

fn options() -> WriterOptions {
    WriterOptions {
        compaction: CompactionOptions {
            small_files: SMALL_FILES,
            ..CompactionOptions::default()
        },
        ..WriterOptions::new("g")
    }
}

/// Files per `event_date` partition in the latest version.
async fn files_per_day(temp: &TempLake) -> BTreeMap<String, usize> {
    let mut days = BTreeMap::new();
    for path in data_files(&temp.location).await {
        let day = path.split('/').next().unwrap_or_default().to_string();
        *days.entry(day).or_default() += 1;
    }
    days
}

/// One commit of `rows` events from `first` on, read from `partition` at their index.
async fn commit(writer: &mut EventsWriter, seed: u64, partition: i32, first: u64, rows: u64) {
    let events = (first..first + rows).map(|i| (partition, i as i64, arrived(seed, i, Duration::seconds(1))));
    let batch = offered(writer, events);
    writer.write(&batch).await.expect("a commit");
}

async fn assert_every_event_once(temp: &TempLake, events: usize) {
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let counts = event_id_counts(&table).await.expect("the ids");
    assert_eq!(counts.len(), events);
    assert!(counts.values().all(|&n| n == 1), "an event written twice");
    assert_eq!(
        verify(&table).await.expect("verify").problems(),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_long_run_the_partition_being_filled_keeps_few_files_and_every_event_once() {
    let temp = TempLake::new("lake-compaction");
    let seed = 41;
    let mut writer = temp.writer(&options()).await;
    let (commits, rows) = (60, 25);
    let mut compactions = 0;
    let mut most = 0;
    for n in 0..commits {
        commit(&mut writer, seed, 0, n * rows, rows).await;
        if let Some(done) = writer.compaction_finished().await {
            let done = done.expect("a compaction");
            assert!(done.files_removed > SMALL_FILES as u64, "{done:?}");
            compactions += 1;
        }
        let days = files_per_day(&temp).await;
        most = most.max(days.values().copied().max().unwrap_or(0));
        for (day, files) in days {
            assert!(files <= SMALL_FILES, "after commit {n}: {files} files in {day}");
        }
    }
    assert!(compactions >= 10, "{compactions} compactions");
    assert!(most > 1, "files accumulate between compactions");
    assert_every_event_once(&temp, (commits * rows) as usize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_compacting_the_same_partition_while_committing_keep_every_event_once() {
    let temp = TempLake::new("lake-compaction");
    let seed = 42;
    let (commits, rows) = (25, 20);
    let run = |partition: i32| {
        let location = temp.location.clone();
        tokio::spawn(async move {
            let mut writer = EventsWriter::open_or_create(&location, &options())
                .await
                .expect("the lake");
            let first = partition as u64 * 1_000_000;
            for n in 0..commits {
                commit(&mut writer, seed, partition, first + n * rows, rows).await;
            }
            writer
        })
    };
    // Both commit to the same day partition and compact it, each beside the other's commits.
    let (a, b) = tokio::join!(run(0), run(1));
    let (mut a, mut b) = (a.expect("writer 0"), b.expect("writer 1"));
    for writer in [&mut a, &mut b] {
        if let Some(done) = writer.compaction_finished().await {
            done.expect("a compaction that met another retries and succeeds");
        }
    }
    // Once both are idle, one more commit each brings the partition back below the bound.
    commit(&mut a, seed, 0, commits * rows, rows).await;
    let _ = a.compaction_finished().await;
    commit(&mut b, seed, 1, 1_000_000 + commits * rows, rows).await;
    let _ = b.compaction_finished().await;
    for (day, files) in files_per_day(&temp).await {
        assert!(files <= SMALL_FILES + 1, "{files} files in {day}");
    }
    assert_every_event_once(&temp, (2 * (commits + 1) * rows) as usize).await;
}

/// The `txn` app id of the compaction claim (DESIGN.md §8.5).
const CLAIM: &str = "lakehouse.compaction";

/// Commits the claim's `version` as a compacting writer does: one `txn` action, no data.
async fn commit_claim(table: &DeltaTable, version: i64) {
    let properties =
        CommitProperties::default().with_application_transactions(vec![Transaction::new(CLAIM, version)]);
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    CommitBuilder::from(properties)
        .build(
            Some(table.snapshot().expect("a snapshot")),
            table.log_store(),
            operation,
        )
        .await
        .expect("the claim's commit");
}

async fn claim_version(temp: &TempLake) -> Option<i64> {
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    table
        .snapshot()
        .expect("a snapshot")
        .transaction_version(table.log_store().as_ref(), CLAIM)
        .await
        .expect("the claim")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_waits_for_a_writers_compaction_claim_and_releases_its_own_after() {
    let temp = TempLake::new("lake-compaction");
    let mut writer = temp.writer(&WriterOptions::new("g")).await;
    for n in 0..4 {
        commit(&mut writer, 43, 0, n * 10, 10).await;
    }
    let latest = || async {
        open_at(&temp.location, &AsOf::default())
            .await
            .expect("the table")
    };

    // A writer's compaction holds the claim: optimize must not compact the same files meanwhile.
    let held = Utc::now().timestamp_millis() * 2 + 1;
    commit_claim(&latest().await, held).await;
    let files = data_files(&temp.location).await.len();
    let no_wait = OptimizeOptions {
        claim_wait: std::time::Duration::ZERO,
        ..OptimizeOptions::default()
    };
    let refused = optimize(latest().await, &no_wait)
        .await
        .expect_err("the claim is held");
    assert!(refused.operation::<ClaimHeld>().is_some(), "{refused}");
    assert_eq!(data_files(&temp.location).await.len(), files, "nothing compacted");
    assert_eq!(
        claim_version(&temp).await,
        Some(held),
        "the writer's claim left alone"
    );

    // Released, optimize compacts under a claim of its own and frees it for the writers again.
    commit_claim(&latest().await, held + 1).await;
    let optimized = optimize(latest().await, &no_wait).await.expect("optimize");
    assert!(optimized.files_removed > optimized.files_added, "{optimized:?}");
    let released = claim_version(&temp).await.expect("a claim");
    assert!(released > held + 1 && released % 2 == 0, "{released}");
    let last = history(&latest().await, Some(3)).await.expect("history");
    let said: Vec<(&str, Option<&str>)> = last
        .iter()
        .map(|commit| (commit.operation.as_str(), commit.user_metadata.as_deref()))
        .collect();
    assert_eq!(
        said,
        [
            ("WRITE", Some(r#"{"compaction_claim":"released"}"#)),
            ("OPTIMIZE", None),
            ("WRITE", Some(r#"{"compaction_claim":"taken"}"#)),
        ],
        "the OPTIMIZE between its claim's commits, which say what they are"
    );
    assert_every_event_once(&temp, 40).await;
}
