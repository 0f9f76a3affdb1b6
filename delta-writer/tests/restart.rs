//! Liveness across immediate restarts, on real Kafka and the S3 store (moto), with the real
//! binary: the writer is SIGKILLed and started again at once ten times in a row while events keep
//! arriving, as an orchestrator restarts a crashed container. Each new process commits within
//! the session timeout plus ten seconds, and at the end the table holds every event once.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{config, flags, id_counts, version};
use lakehouse_testkit::restart::{Load, PROGRESS_LIMIT, kill_and_restart, late, sink_binary, summary};
use lakehouse_testkit::{Stack, TestTopic, reference_event, spawn_service, unique, wait_until};
use tokio::process::{Child, Command};

/// Starts the writer binary as the group's static member `instance` (the same each time, as a pod
/// keeps its name across container restarts), with the production session timeout and a commit
/// every second; dropping the child SIGKILLs it.
fn spawn(stack: &Stack, topic: &TestTopic, lake: &str, group: &str, instance: &str) -> Child {
    let mut command = Command::new(sink_binary(env!("CARGO_BIN_EXE_lakehouse-delta-writer")));
    command
        .args(flags(stack, topic, lake, group))
        .args(["--flush-max-events=5000", "--flush-max-age-ms=1000", "run"])
        .env("KAFKA_GROUP_INSTANCE_ID", instance);
    spawn_service(&mut command, "the delta-writer binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_restarted_at_once_after_each_sigkill_commits_within_the_session_timeout() {
    const ROUNDS: usize = 10;
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let lake = stack.s3_lake_uri("lake-restart");
    let group = unique("lake-restart");
    let instance = format!("{group}-0");
    let table = config(&stack, &topic, &lake, &group, &[]);
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;

    // The reference events spread over many days, a file per day and commit: here every event is
    // of today, so that the table a restart opens (and the dedup window it loads) stays a file per
    // commit. What is measured is the group's hand-over, not the lake's read of small files.
    let today = chrono::Utc::now();
    let event = move |i| {
        let mut event = reference_event(seed, i);
        (event.timestamp, event.received_at) = (today, today);
        event
    };
    let load = Load::start_with(&stack, &topic.name, 20, event);
    let patience = PROGRESS_LIMIT * 3;
    let (mut last, took) = kill_and_restart(
        ROUNDS,
        patience,
        || spawn(&stack, &topic, &lake, &group, &instance),
        async || version(&table).await.map_or(-1, |v| v as i64),
    )
    .await;
    let produced = load.stop().await;
    eprintln!("delta-writer: {}", summary(&took, patience));

    let expected: HashSet<String> = (0..produced)
        .map(|i| reference_event(seed, i).event_id.to_string())
        .collect();
    let counts = wait_until(
        &format!("{produced} events in the lake"),
        Duration::from_secs(90),
        || async {
            let counts = id_counts(&table).await;
            if counts.len() as u64 == produced {
                Ok(counts)
            } else {
                Err(format!("{} of {produced}", counts.len()))
            }
        },
    )
    .await;
    last.start_kill().expect("SIGKILL");
    let twice: Vec<_> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "events written more than once: {twice:?}");
    let written: HashSet<String> = counts.into_keys().collect();
    assert_eq!(written, expected, "{produced} events, each once");
    let late = late(&took);
    assert!(
        late.is_empty(),
        "restarts without progress within {PROGRESS_LIMIT:?}: {late:?} ({})",
        summary(&took, patience)
    );
}
