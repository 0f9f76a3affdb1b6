//! The writer and the log on a real Delta table in a local folder: each commit passes its stages
//! in order and stores its offsets; a batch whose offsets are stored writes nothing again; the log
//! tells what each commit added and stored, and when each event first appeared.

use std::sync::{Arc, Mutex};

use lakehouse_lake::{
    AsOf, OptimizeOptions, Stage, WriterOptions, event_id_counts, first_appearances, log_entry, open_at,
    optimize,
};
use lakehouse_testkit::reference_event;

use crate::{TempLake, batch};

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
