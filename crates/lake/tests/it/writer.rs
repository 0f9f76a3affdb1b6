//! The writer and the log on a real Delta table in a local folder: each commit passes its stages
//! in order and stores its offsets; a batch whose offsets are stored writes nothing again; a
//! commit passes over other writers' commits of other partitions and is retried, writing only the
//! rest, after one that stored its own partition's offsets; the log tells what each commit added
//! and stored, and when each event first appeared.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use lakehouse_event::{Batch, Record};
use lakehouse_lake::{
    AsOf, OptimizeOptions, Stage, WriterOptions, event_id_counts, first_appearances, log_entry, open_at,
    optimize,
};
use lakehouse_testkit::reference_event;

use crate::{TempLake, batch, offered};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_commit_passes_its_stages_in_order_and_a_stored_batch_writes_nothing_again() {
    let temp = TempLake::new("lake-writer");
    let stages = Arc::new(Mutex::new(Vec::new()));
    let seen = stages.clone();
    let mut writer = temp
        .writer(&WriterOptions::new("g"))
        .await
        .with_hook(move |stage| seen.lock().expect("the stages").push(stage));
    assert_eq!(writer.stored_offset("t", 0).await.expect("an offset"), None);

    let first = batch(3, 0, 20);
    writer.write(&first).await.expect("a commit");
    assert_eq!(
        *stages.lock().expect("the stages"),
        [Stage::BeforeUpload, Stage::AfterUpload, Stage::AfterCommit]
    );
    assert_eq!(writer.stored_offset("t", 0).await.expect("an offset"), Some(20));

    stages.lock().expect("the stages").clear();
    writer.write(&first).await.expect("a retry");
    assert_eq!(
        *stages.lock().expect("the stages"),
        Vec::<Stage>::new(),
        "a batch whose offsets are stored is not committed again"
    );
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(table.version(), Some(1));
    let counts = event_id_counts(&table).await.expect("the ids");
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_tells_what_each_commit_added_and_when_each_event_first_appeared() {
    let temp = TempLake::new("lake-writer");
    let seed = 4;
    let mut writer = temp.writer(&WriterOptions::new("g")).await;
    // Both commits hold events of every one of the workload's days: optimize compacts each day.
    writer.write(&batch(seed, 0, 200)).await.expect("version 1");
    writer.write(&batch(seed, 200, 100)).await.expect("version 2");
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    optimize(table, &OptimizeOptions::default())
        .await
        .expect("version 4, the rows rewritten (3 and 5: its compaction claim)");

    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(table.version(), Some(5));
    let created = log_entry(&table, 0).await.expect("version 0");
    assert!(created.added.is_empty() && created.offsets.is_empty());
    let first = log_entry(&table, 1).await.expect("version 1");
    let second = log_entry(&table, 2).await.expect("version 2");
    assert_eq!(first.offsets["g-t-0"], 199);
    assert_eq!(second.offsets["g-t-0"], 299);
    assert!(!first.added.is_empty() && !second.added.is_empty());
    let (Some(first_time), Some(second_time)) = (first.timestamp, second.timestamp) else {
        panic!("commits carry their time: {first:?} {second:?}");
    };
    let compacted = log_entry(&table, 4).await.expect("version 4");
    assert!(compacted.offsets.is_empty(), "{compacted:?}");
    assert!(!compacted.added.is_empty(), "optimize adds the compacted files");

    let appeared = first_appearances(&table).await.expect("the appearances");
    assert_eq!(appeared.len(), 300);
    for index in 0..300 {
        let id = reference_event(seed, index).event_id;
        let expected = if index < 200 { first_time } else { second_time };
        assert_eq!(
            appeared[&id], expected,
            "event {index}: its first commit, not optimize's"
        );
    }
}

/// Reference events `first..first + rows` of `seed`, read from `partition` of topic `t` at their
/// index.
fn read_from(partition: i32, seed: u64, first: u64, rows: u64) -> Batch {
    let mut batch = Batch::new("t");
    for index in first..first + rows {
        let event = reference_event(seed, index);
        batch.push(Record {
            event,
            partition,
            offset: index as i64,
        });
    }
    batch
}

/// The stages a hook saw, taken.
fn take(stages: &Mutex<Vec<Stage>>) -> Vec<Stage> {
    std::mem::take(&mut *stages.lock().expect("the stages"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_passes_over_commits_of_other_partitions_and_retries_after_one_of_its_own() {
    use Stage::{AfterCommit, AfterUpload, BeforeUpload};
    let temp = TempLake::new("lake-append");
    let (a_seen, b_seen) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let hook = |seen: &Arc<Mutex<Vec<Stage>>>| {
        let seen = seen.clone();
        move |stage| seen.lock().expect("the stages").push(stage)
    };
    let mut a = temp
        .writer(&WriterOptions::new("g"))
        .await
        .with_hook(hook(&a_seen));
    let mut b = temp
        .writer(&WriterOptions::new("g"))
        .await
        .with_hook(hook(&b_seen));
    a.assigned("t", &BTreeSet::from([0])).await.expect("partition 0");
    b.assigned("t", &BTreeSet::from([1])).await.expect("partition 1");
    assert_eq!(a.stored_offset("t", 0).await.expect("an offset"), None);
    // `a` reads offsets 0..100 of partition 0 as the consume loop does; before it commits, `b`
    // commits partition 1, then (a rebalance moved partition 0 to it) offsets 0..40 of partition 0.
    let held = offered(
        &mut a,
        (0..100).map(|offset| (0, offset, reference_event(7, offset as u64))),
    );
    b.write(&read_from(1, 8, 0, 50)).await.expect("version 1");
    b.write(&read_from(0, 7, 0, 40)).await.expect("version 2");
    assert_eq!(
        take(&b_seen),
        [
            BeforeUpload,
            AfterUpload,
            AfterCommit,
            BeforeUpload,
            AfterUpload,
            AfterCommit
        ]
    );

    a.write(&held).await.expect("version 3");
    assert_eq!(
        take(&a_seen),
        [BeforeUpload, AfterUpload, BeforeUpload, AfterUpload, AfterCommit],
        "the commit passed over version 1, conflicted with version 2 and was uploaded again without its rows"
    );
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(table.version(), Some(3));
    assert_eq!(
        log_entry(&table, 3).await.expect("version 3").offsets["g-t-0"],
        99
    );

    // `b`, which has not read version 3, commits more of partition 1 as the consume loop does:
    // no conflict, version 4.
    let more = offered(
        &mut b,
        (50..80).map(|offset| (1, offset, reference_event(8, offset as u64))),
    );
    b.write(&more).await.expect("version 4");
    assert_eq!(
        take(&b_seen),
        [BeforeUpload, AfterUpload, AfterCommit],
        "one attempt"
    );
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(table.version(), Some(4));
    let fourth = log_entry(&table, 4).await.expect("version 4");
    assert_eq!(fourth.offsets.get("g-t-1"), Some(&79), "{fourth:?}");
    assert_eq!(fourth.offsets.len(), 1, "{fourth:?}");

    let counts = event_id_counts(&table).await.expect("the ids");
    assert_eq!(counts.len(), 180, "100 of partition 0 and 80 of partition 1");
    assert!(counts.values().all(|&n| n == 1), "each event once");
    assert_eq!(a.stored_offset("t", 0).await.expect("an offset"), Some(100));
    assert_eq!(b.stored_offset("t", 1).await.expect("an offset"), Some(80));
}
