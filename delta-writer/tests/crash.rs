//! Exactly once into the lake across crashes, on real Kafka and the S3 store (moto), with the
//! real binary: made to abort at each point of a commit where a `kill -9` hurts (before the
//! upload, after the upload and before the commit, after the commit), several times each, and
//! SIGKILLed at random moments; after a last clean drain the table holds every event exactly once.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{config, id_counts, kill_after_progress, run_until_crash, spawn, version};
use lakehouse_testkit::{SESSION_TIMEOUT, Stack, TestTopic, produce, reference_event, unique};

/// Events produced before each crash round: several commits' worth (the child commits every 40).
const ROUND: u64 = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_in_the_lake_once_across_crashes_at_every_point_of_a_commit() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let lake = stack.s3_lake_uri("lake-crash");
    let group = unique("lake-crash");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let mut produced = 0;
    let mut produce_round = async || {
        let events: Vec<_> = (produced..produced + ROUND)
            .map(|i| reference_event(seed, i))
            .collect();
        produce(&stack, &topic.name, &events).await;
        produced += ROUND;
    };

    // Each crash point, reached for the 1st and for the 3rd time in a run.
    for crash_at in [
        "before-upload:1",
        "after-upload:1",
        "after-commit:1",
        "before-upload:3",
        "after-upload:3",
        "after-commit:3",
    ] {
        produce_round().await;
        run_until_crash(
            &stack,
            &topic,
            &lake,
            &group,
            crash_at,
            &[],
            Duration::from_secs(60),
        )
        .await;
    }

    // SIGKILLs at random moments of runs that would not end by themselves, once each has
    // committed (joining the group takes a while after a kill).
    let table = config(&stack, &topic, &lake, &group, &[]);
    for _ in 0..3 {
        produce_round().await;
        let patience = Duration::from_secs(60);
        kill_after_progress(&stack, &topic, &lake, &group, &[], patience, || version(&table)).await;
    }
    let before_last = id_counts(&table).await.len() as u64;
    assert!(
        before_last < produced,
        "the kills must interrupt the work: {before_last} of {produced}"
    );

    // The group hands partitions to killed members until their sessions end (by the broker's
    // clock): a drain that joins earlier would cover only the others.
    tokio::time::sleep(SESSION_TIMEOUT + Duration::from_secs(1)).await;
    let mut last = spawn(&stack, &topic, &lake, &group, &["run", "--until-caught-up"], &[]);
    let status = tokio::time::timeout(Duration::from_secs(90), last.wait())
        .await
        .expect("the last drain ends")
        .expect("the child is reaped");
    assert!(status.success(), "the last drain succeeds: {status:?}");

    let counts = id_counts(&table).await;
    let twice: Vec<_> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "events written more than once: {twice:?}");
    let expected: HashSet<String> = (0..produced)
        .map(|i| reference_event(seed, i).event_id.to_string())
        .collect();
    let written: HashSet<String> = counts.into_keys().collect();
    assert_eq!(written.len(), expected.len(), "{produced} events, each once");
    assert_eq!(written, expected);
}
