//! The log kept tidy, on a real table in a local folder: a checkpoint that a crash kept a
//! commit from writing is written by the next commit; log files past the table's retention
//! that no later version needs are removed after a checkpoint, and the versions after it stay
//! readable; `verify` reports the log's size and the checkpoint's age.

use chrono::Duration;
use lakehouse_lake::{AsOf, Stage, WriterOptions, last_checkpoint, open_at, verify};

use crate::{TempLake, batch};

fn checkpoint_file(temp: &TempLake, version: u64) -> std::path::PathBuf {
    temp.dir
        .join(format!("events/_delta_log/{version:020}.checkpoint.parquet"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_a_crash_skipped_is_written_by_the_next_commit() {
    let temp = TempLake::new("lake-log");
    let options = WriterOptions {
        checkpoint_interval: 2,
        ..WriterOptions::new("g")
    };
    let seed = 31;
    let mut writer = temp.writer(&options).await;
    writer.write(&batch(seed, 0, 10)).await.expect("version 1");
    assert!(checkpoint_file(&temp, 1).exists(), "due at version 1");
    writer.write(&batch(seed, 10, 10)).await.expect("version 2");

    // Version 3 is due a checkpoint; the writer dies right after committing it.
    let crashing = temp.writer(&options).await.with_hook(|stage| {
        assert!(stage != Stage::AfterCommit, "the process dies here");
    });
    let died = tokio::spawn(async move {
        let mut crashing = crashing;
        crashing.write(&batch(seed, 20, 10)).await
    })
    .await;
    assert!(died.is_err(), "the write died at its commit: {died:?}");
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(table.version(), Some(3), "the commit is in the log");
    assert!(!checkpoint_file(&temp, 3).exists(), "its checkpoint is not");

    let mut next = temp.writer(&options).await;
    next.write(&batch(seed, 30, 10)).await.expect("version 4");
    assert!(
        checkpoint_file(&temp, 4).exists(),
        "the next commit writes the missed checkpoint"
    );
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let checkpoint = last_checkpoint(&table)
        .await
        .expect("the log")
        .expect("a checkpoint");
    assert_eq!(checkpoint.version, 4);
    let verified = verify(&table).await.expect("verify");
    assert_eq!(verified.problems(), Vec::<String>::new());
    assert_eq!(verified.last_checkpoint.map(|c| c.version), Some(4));
    assert_eq!(verified.commits_since_checkpoint, 0);
    assert!(
        verified
            .checkpoint_age_seconds
            .is_some_and(|age| (0..60).contains(&age))
    );
    assert_eq!(verified.log.commits, 5, "versions 0 to 4");
    assert_eq!(verified.log.checkpoints, 2, "versions 1 and 4");
    assert!(verified.log.bytes > 0);
    assert_eq!(temp.count(AsOf::default()).await, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_files_past_the_retention_go_after_a_checkpoint_and_the_versions_after_it_stay_readable() {
    let seed = 32;
    // The default retention (30 days): every version stays.
    let kept = TempLake::new("lake-log");
    let options = WriterOptions {
        checkpoint_interval: 2,
        ..WriterOptions::new("g")
    };
    let mut writer = kept.writer(&options).await;
    for commit in 0..6 {
        writer
            .write(&batch(seed, commit * 10, 10))
            .await
            .expect("a commit");
    }
    assert_eq!(
        kept.count(TempLake::version(1)).await,
        10,
        "version 1 is readable"
    );

    // No retention: what the last checkpoint (version 5) makes unneeded goes.
    let cleaned = TempLake::new("lake-log");
    let options = WriterOptions {
        checkpoint_interval: 2,
        log_retention: Duration::zero(),
        ..WriterOptions::new("g")
    };
    let mut writer = cleaned.writer(&options).await;
    for commit in 0..6 {
        writer
            .write(&batch(seed, commit * 10, 10))
            .await
            .expect("a commit");
    }
    let log = cleaned.dir.join("events/_delta_log");
    let commit_file = |version: u64| log.join(format!("{version:020}.json"));
    assert!(
        !commit_file(0).exists() && !commit_file(4).exists(),
        "before the checkpoint"
    );
    assert!(commit_file(5).exists() && commit_file(6).exists());
    assert!(checkpoint_file(&cleaned, 5).exists());
    assert!(!checkpoint_file(&cleaned, 3).exists(), "an older checkpoint");
    assert_eq!(cleaned.count(TempLake::version(5)).await, 50);
    assert_eq!(cleaned.count(AsOf::default()).await, 60);
    let table = open_at(&cleaned.location, &AsOf::default())
        .await
        .expect("the table");
    let verified = verify(&table).await.expect("verify");
    assert_eq!(verified.log.commits, 2);
    assert_eq!(verified.log.checkpoints, 1);
    assert_eq!(verified.commits_since_checkpoint, 1);
}
