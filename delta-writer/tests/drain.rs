//! Drain mode and stored offsets past the end of the log, on real Kafka and a local lake: a drain
//! writes everything up to the end of every partition and exits; a stored position beyond the
//! log's end (a recreated topic) pauses its partition instead of silently skipping what arrives,
//! until `reset-offsets` forgets it.

mod common;

use std::time::Duration;

use common::{config, rows};
use lakehouse_lake::{EventsWriter, WriterOptions};
use lakehouse_testkit::{Stack, TestTopic, consume, produce, produce_raw, reference_event, unique};
use rdkafka::Message;
use rdkafka::message::Headers;
use tokio_util::sync::CancellationToken;

async fn drain(stack: &Stack, topic: &TestTopic, lake: &str, group: &str) -> anyhow::Result<()> {
    let config = config(stack, topic, lake, group, &["run", "--until-caught-up"]);
    tokio::time::timeout(
        Duration::from_secs(60),
        lakehouse_delta_writer::run(config, CancellationToken::new()),
    )
    .await
    .expect("a drain ends by itself")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_writes_everything_and_a_position_past_the_log_end_waits_for_a_reset() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let lake = std::env::temp_dir().join(unique("lake"));
    let lake = lake.to_string_lossy().to_string();
    let group = unique("lake-drain");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let events: Vec<_> = (0..40).map(|i| reference_event(seed, i)).collect();
    produce(&stack, &topic.name, &events).await;

    drain(&stack, &topic, &lake, &group).await.expect("a clean drain");
    let command = config(&stack, &topic, &lake, &group, &[]);
    assert_eq!(rows(&command).await, 40);

    // Another lake whose stored position lies past the end of partition 0 (the topic was
    // recreated since that lake last read it).
    let other_lake = std::env::temp_dir().join(unique("lake"));
    let other_lake = other_lake.to_string_lossy().to_string();
    let other = config(&stack, &topic, &other_lake, &group, &[]);
    let mut table = EventsWriter::open_or_create(&other.location(), &WriterOptions::new(&group))
        .await
        .expect("the lake");
    table
        .store_offsets(&topic.name, &[(0, 1_000)])
        .await
        .expect("positions");
    let error = drain(&stack, &topic, &other_lake, &group)
        .await
        .expect_err("the drain reports the partition it could not read");
    assert!(error.to_string().contains("past the end of the log"), "{error:#}");
    assert_eq!(rows(&other).await, 0, "nothing was skipped or written");

    // What `lakehouse offsets reset --sink lake --partition=0` does.
    table.reset_offsets(&topic.name, &[0]).await.expect("reset");
    drain(&stack, &topic, &other_lake, &group)
        .await
        .expect("a clean drain");
    assert_eq!(rows(&other).await, 40, "after the reset, every event once");
    std::fs::remove_dir_all(&other_lake).ok();
    std::fs::remove_dir_all(&lake).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_written_within_the_window_is_not_written_again_even_after_a_restart() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let lake = std::env::temp_dir().join(unique("lake"));
    let lake = lake.to_string_lossy().to_string();
    let group = unique("lake-dedup");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    // Arrival times within the window (the reference workload's span 20 days).
    let arrived_now = |index| {
        let mut event = reference_event(seed, index);
        event.received_at = chrono::Utc::now();
        event
    };
    let retried = arrived_now(0);
    let others: Vec<_> = (1..20).map(arrived_now).collect();
    // The retry arrives after other events, in the same batch as the original...
    produce(&stack, &topic.name, std::slice::from_ref(&retried)).await;
    produce(&stack, &topic.name, &others).await;
    produce(&stack, &topic.name, std::slice::from_ref(&retried)).await;
    drain(&stack, &topic, &lake, &group).await.expect("a clean drain");
    let command = config(&stack, &topic, &lake, &group, &[]);
    assert_eq!(
        rows(&command).await,
        20,
        "the retry in the same batch is left out"
    );

    // ...and again after a restart, when the writer only knows the table.
    produce(&stack, &topic.name, std::slice::from_ref(&retried)).await;
    drain(&stack, &topic, &lake, &group).await.expect("a clean drain");
    assert_eq!(rows(&command).await, 20, "the window is reloaded from the table");
    std::fs::remove_dir_all(&lake).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_dlq_and_its_neighbours_reach_the_lake() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let lake = stack.s3_lake_uri("lake-dlq");
    let group = unique("lake-dlq");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let events: Vec<_> = (0..6).map(|i| reference_event(seed, i)).collect();
    produce(&stack, &topic.name, &events[..3]).await;
    produce_raw(&stack, &topic.name, &[("p:s".into(), b"{not json".to_vec())]).await;
    produce(&stack, &topic.name, &events[3..]).await;

    drain(&stack, &topic, &lake, &group).await.expect("a clean drain");
    let command = config(&stack, &topic, &lake, &group, &[]);
    assert_eq!(rows(&command).await, 6, "the neighbours are written");
    let dead = consume(&stack, &topic.dlq, 1, Duration::from_secs(30)).await;
    assert_eq!(dead[0].payload(), Some(&b"{not json"[..]));
    let source_offset = dead[0]
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == "source_offset"))
        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()));
    assert_eq!(source_offset.as_deref(), Some("3"));

    // The poison message's offset is stored with the batch: a second drain writes nothing again.
    drain(&stack, &topic, &lake, &group).await.expect("a clean drain");
    assert_eq!(rows(&command).await, 6);
}
