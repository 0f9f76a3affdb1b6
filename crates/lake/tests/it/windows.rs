//! The deduplication windows on a real table in a local folder, read without a table scan: a
//! partition's window is loaded from only the files whose arrivals reach into it, a window kept
//! across a rebalance is not read again, and what another writer committed to its partition
//! meanwhile is read from that writer's files alone. Each test deletes the files the writer must
//! not read: reading one would fail.

use std::collections::BTreeSet;

use chrono::Duration;
use lakehouse_lake::{AsOf, WriterOptions, log_entry, open_at};

use crate::{TempLake, arrived, offered};

/// Deletes the data files that `version` added.
async fn delete_files_of(temp: &TempLake, version: u64) {
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let entry = log_entry(&table, version).await.expect("the commit");
    assert!(!entry.added.is_empty(), "version {version} added files");
    for path in entry.added {
        std::fs::remove_file(temp.dir.join("events").join(path)).expect("a data file");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_loaded_from_only_the_files_whose_arrivals_reach_into_it() {
    let temp = TempLake::new("lake-windows");
    let seed = 21;
    let mut first = temp.writer(&WriterOptions::new("g")).await;
    let old: Vec<_> = (0..50u64)
        .map(|i| (0, i as i64, arrived(seed, i, Duration::days(3))))
        .collect();
    let batch = offered(&mut first, old);
    first
        .write(&batch)
        .await
        .expect("version 1, arrived three days ago");
    let recent: Vec<_> = (50..100)
        .map(|i| arrived(seed, i, Duration::minutes(5)))
        .collect();
    let batch = offered(
        &mut first,
        recent
            .iter()
            .cloned()
            .zip(50..)
            .map(|(event, offset)| (0, offset, event)),
    );
    first.write(&batch).await.expect("version 2, arrived just now");
    delete_files_of(&temp, 1).await;

    // A writer that only knows the table: its window comes from version 2's files alone.
    let mut second = temp.writer(&WriterOptions::new("g")).await;
    second
        .assigned("t", &BTreeSet::from([0]))
        .await
        .expect("the window loads without the old files");
    assert_eq!(second.stored_offset("t", 0).await.expect("an offset"), Some(100));
    let again = offered(
        &mut second,
        recent
            .into_iter()
            .zip(100..)
            .map(|(event, offset)| (0, offset, event)),
    );
    assert_eq!(
        second.held_bytes(),
        0,
        "every id is in the window: nothing to write"
    );
    second.write(&again).await.expect("the offsets alone");
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let stored = log_entry(&table, 3).await.expect("version 3");
    assert!(stored.added.is_empty(), "{stored:?}");
    assert_eq!(stored.offsets["g-t-0"], 149);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_kept_across_a_rebalance_is_not_read_again_and_catches_up_with_the_other_writer() {
    let temp = TempLake::new("lake-windows");
    let seed = 22;
    let event = |i| arrived(seed, i, Duration::minutes(1));
    let mut first = temp.writer(&WriterOptions::new("g")).await;
    first
        .assigned("t", &BTreeSet::from([0, 1]))
        .await
        .expect("an empty table");
    let batch = offered(&mut first, (0..30).map(|i| (0, i as i64, event(i))));
    first.write(&batch).await.expect("version 1: partition 0");
    let batch = offered(&mut first, (30..60).map(|i| (1, i as i64 - 30, event(i))));
    first.write(&batch).await.expect("version 2: partition 1");

    // A rebalance gives partition 0 to another writer, which writes to it...
    let mut second = temp.writer(&WriterOptions::new("g")).await;
    second
        .assigned("t", &BTreeSet::from([0]))
        .await
        .expect("the window of partition 0");
    assert_eq!(second.stored_offset("t", 0).await.expect("an offset"), Some(30));
    let batch = offered(&mut second, (60..90).map(|i| (0, i as i64 - 30, event(i))));
    second.write(&batch).await.expect("version 3: partition 0 again");

    // ...and gives it back. The first writer's own files are gone: it must not read them.
    delete_files_of(&temp, 1).await;
    delete_files_of(&temp, 2).await;
    first
        .assigned("t", &BTreeSet::from([0]))
        .await
        .expect("partition 0's window is kept, and caught up from version 3 alone");
    assert_eq!(first.stored_offset("t", 0).await.expect("an offset"), Some(60));
    // Its own ids and the other writer's, sent again: all within the window.
    let batch = offered(
        &mut first,
        (0..30)
            .chain(60..90)
            .zip(60..)
            .map(|(i, offset)| (0, offset, event(i))),
    );
    assert_eq!(first.held_bytes(), 0, "nothing is written twice");
    first.write(&batch).await.expect("the offsets alone");
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let stored = log_entry(&table, 4).await.expect("version 4");
    assert!(stored.added.is_empty(), "{stored:?}");
    assert_eq!(stored.offsets["g-t-0"], 119);
}
