//! The lake tooling on a real Delta table in a local folder: history lists every commit; time
//! travel by version and by time reads old states; restore (dry run first) brings an old state
//! back as a new commit; optimize compacts files without changing a row; vacuum refuses to go
//! below the restore window and keeps old versions readable within its retention; a user's rows
//! are exported and deleted; Z-order keeps every row; verify finds a missing file.

use chrono::{Duration, Utc};
use deltalake::arrow::array::AsArray;
use lakehouse_lake::{
    AsOf, EraseOptions, EventsWriter, OptimizeOptions, OutputFormat, RestoreOptions, User, VacuumOptions,
    WriterOptions, delete_user, export_user, history, open_at, optimize, query, render, restore, table_stats,
    vacuum, verify,
};
use lakehouse_testkit::{reference_event, wait_until};

use crate::{TempLake, batch};

/// A lake whose writer (group `g`) makes a checkpoint every third commit.
async fn temp_lake() -> (TempLake, EventsWriter) {
    let temp = TempLake::new("lake-tooling");
    let options = WriterOptions {
        checkpoint_interval: 3,
        ..WriterOptions::new("g")
    };
    let writer = temp.writer(&options).await;
    (temp, writer)
}

/// One commit of `rows` reference events from `first` on, as the writer makes it.
async fn append(lake: &mut EventsWriter, seed: u64, first: u64, rows: u64) {
    lake.write(&batch(seed, first, rows)).await.expect("a commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_time_travel_restore_optimize_and_vacuum() {
    let (temp, mut lake) = temp_lake().await;
    let seed = 11;
    append(&mut lake, seed, 0, 100).await; // version 1
    let table = open_at(&temp.location, &AsOf::default())
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

    let table = open_at(&temp.location, &AsOf::default())
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
    let latest = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    let target = open_at(&temp.location, &TempLake::version(1)).await.expect("v1");
    let dry_run = RestoreOptions {
        dry_run: true,
        ..RestoreOptions::default()
    };
    let dry = restore(latest, &target, &dry_run).await.expect("a dry run");
    assert_eq!((dry.from_version, dry.to_version, dry.new_version), (3, 1, None));
    assert!(dry.files_removed >= 2, "{dry:?}");
    assert_eq!(
        temp.count(AsOf::default()).await,
        175,
        "a dry run changes nothing"
    );
    let latest = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    let note = r#"{"actor":"sre-1","action":"lake.restore"}"#;
    let really = RestoreOptions {
        dry_run: false,
        user_metadata: Some(note.into()),
    };
    let done = restore(latest, &target, &really).await.expect("a restore");
    assert_eq!(done.new_version, Some(4));
    let restored = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    let commits = history(&restored, Some(1)).await.expect("history");
    assert_eq!(
        commits[0].user_metadata.as_deref(),
        Some(note),
        "the commit says who restored"
    );
    assert_eq!(temp.count(AsOf::default()).await, 100);
    assert_eq!(temp.count(TempLake::version(3)).await, 175, "history is kept");

    // Optimize: fewer files, the same rows.
    append(&mut lake, seed, 1_000, 30).await; // version 5
    append(&mut lake, seed, 2_000, 30).await; // version 6
    let before = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    let files_before = before.get_file_uris().expect("files").count();
    let ids_before = ids(&before).await;
    let optimized = optimize(
        before,
        &OptimizeOptions {
            target_size: 64 * 1024 * 1024,
            zorder: vec![],
            ..OptimizeOptions::default()
        },
    )
    .await
    .expect("optimize");
    assert!(optimized.files_removed > optimized.files_added, "{optimized:?}");
    let after = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    assert!(after.get_file_uris().expect("files").count() < files_before);
    assert_eq!(ids(&after).await, ids_before, "optimize changes no row");
    // The OPTIMIZE, then the release of the compaction claim it held (DESIGN.md §8.5).
    let commits = history(&after, Some(2)).await.expect("history");
    assert_eq!(commits[1].operation, "OPTIMIZE");

    // Vacuum: never below the restore window; within its retention old versions stay readable.
    let table = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    let refused = vacuum(
        table,
        &VacuumOptions {
            retention: Duration::hours(1),
            restore_window: Duration::hours(168),
            dry_run: false,
            ..VacuumOptions::default()
        },
    )
    .await
    .expect_err("below the restore window");
    assert!(refused.to_string().contains("restore window"), "{refused}");
    let table = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    let dry = vacuum(
        table,
        &VacuumOptions {
            retention: Duration::zero(),
            restore_window: Duration::zero(),
            dry_run: true,
            ..VacuumOptions::default()
        },
    )
    .await
    .expect("a dry run");
    assert!(
        !dry.files.is_empty(),
        "restore and optimize left unreferenced files"
    );
    let table = open_at(&temp.location, &AsOf::default()).await.expect("latest");
    let kept = vacuum(
        table,
        &VacuumOptions {
            retention: Duration::hours(1),
            restore_window: Duration::hours(1),
            dry_run: false,
            ..VacuumOptions::default()
        },
    )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_delete_a_user_z_order_and_verify() {
    let (temp, mut lake) = temp_lake().await;
    let seed = 12;
    append(&mut lake, seed, 0, 200).await; // version 1
    append(&mut lake, seed, 200, 200).await; // version 2
    let events: Vec<_> = (0..400).map(|i| reference_event(seed, i)).collect();
    // The user with the most events.
    let mut per_user = std::collections::HashMap::<String, usize>::new();
    for id in events.iter().filter_map(|e| e.user_id.clone()) {
        *per_user.entry(id).or_default() += 1;
    }
    let (user_id, theirs) = per_user
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .expect("the workload has users");
    assert!(theirs >= 2, "the user has several events: {theirs}");
    let user = User {
        user_id: user_id.clone(),
        project_id: None,
    };
    let latest = || async { open_at(&temp.location, &AsOf::default()).await.expect("latest") };

    // Export: exactly the user's rows.
    let exported = export_user(&latest().await, &user).await.expect("export");
    let rows: usize = exported.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, theirs);
    let json = render(&exported, OutputFormat::Json).expect("json");
    assert_eq!(json.lines().count(), theirs);
    assert!(
        json.lines()
            .all(|line| line.contains(&format!("\"user_id\":\"{user_id}\"")))
    );

    // Z-order: the same rows, rewritten.
    let ids_before = ids(&latest().await).await;
    let zordered = optimize(
        latest().await,
        &OptimizeOptions {
            target_size: 64 * 1024 * 1024,
            zorder: vec!["project_id".into(), "event_type".into()],
            ..OptimizeOptions::default()
        },
    )
    .await
    .expect("a Z-order optimize");
    assert!(zordered.files_removed > 0, "{zordered:?}");
    assert_eq!(ids(&latest().await).await, ids_before, "Z-order changes no row");

    // Delete: a dry run counts, the deletion removes them from the latest version only.
    let window = Duration::hours(168);
    let table = latest().await;
    let version_before = table.version();
    let dry = delete_user(
        table.clone(),
        &user,
        &EraseOptions {
            restore_window: window,
            dry_run: true,
            ..EraseOptions::default()
        },
    )
    .await
    .expect("a dry run");
    assert_eq!((dry.rows, dry.new_version), (theirs, None));
    assert_eq!(
        latest().await.version(),
        version_before,
        "a dry run commits nothing"
    );
    let erased = delete_user(
        table,
        &user,
        &EraseOptions {
            restore_window: window,
            dry_run: false,
            ..EraseOptions::default()
        },
    )
    .await
    .expect("a deletion");
    assert_eq!(erased.rows, theirs);
    assert!(
        erased
            .erased_from_history_after
            .is_some_and(|t| t > Utc::now() + Duration::hours(167))
    );
    let left = export_user(&latest().await, &user).await.expect("export");
    assert_eq!(
        left.iter().map(|b| b.num_rows()).sum::<usize>(),
        0,
        "no row of the user is left"
    );
    assert_eq!(temp.count(AsOf::default()).await, (400 - theirs) as i64);
    assert_eq!(
        temp.count(TempLake::version(2)).await,
        400,
        "history keeps them until vacuum"
    );

    // Verify: sound, then a missing data file is found.
    let sound = verify(&latest().await).await.expect("verify");
    assert_eq!(sound.problems(), Vec::<String>::new());
    assert_eq!(sound.rows, Some((400 - theirs) as i64));
    let table = latest().await;
    let victim = table.get_file_uris().expect("files").next().expect("a file");
    std::fs::remove_file(victim.trim_start_matches("file://")).expect("remove a data file");
    let broken = verify(&table).await.expect("verify");
    let problems = broken.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("missing from the store"), "{problems:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_small_files_and_commits_since_the_checkpoint() {
    let (temp, mut lake) = temp_lake().await;
    let latest = || async {
        open_at(&temp.location, &AsOf::default())
            .await
            .expect("the table")
    };
    append(&mut lake, 5, 0, 10).await; // version 1
    let first = table_stats(&latest().await).await.expect("stats");
    assert_eq!(first.version, 1);
    assert!(first.files >= 1, "{first:?}");
    assert_eq!(
        first.small_files, first.files,
        "a 10-row file is small: {first:?}"
    );
    assert_eq!(first.last_checkpoint, None);
    assert_eq!(first.commits_since_checkpoint, 1);
    assert_eq!(first.checkpoint_interval, 3);

    // deltalake checkpoints after every third commit, the table's creation (version 0) included.
    append(&mut lake, 5, 10, 10).await; // version 2: a checkpoint
    append(&mut lake, 5, 20, 10).await; // version 3
    append(&mut lake, 5, 30, 10).await; // version 4
    let after = table_stats(&latest().await).await.expect("stats");
    assert_eq!(after.version, 4);
    assert_eq!(after.last_checkpoint, Some(2), "{after:?}");
    assert_eq!(after.commits_since_checkpoint, 2);
    assert!(
        after.files > first.files && after.bytes > first.bytes,
        "{after:?}"
    );

    optimize(latest().await, &OptimizeOptions::default())
        .await
        .expect("optimize");
    let optimized = table_stats(&latest().await).await.expect("stats");
    assert!(
        optimized.small_files < after.small_files,
        "optimize merges small files: {after:?} then {optimized:?}"
    );
}
