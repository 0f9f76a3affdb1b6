//! `LAKE_TABLES=project`: one topic into a table per project, exactly once, on real Kafka and the
//! S3 store (moto), with the real binary and 20 projects mixed in every batch (so that a batch
//! commits to many tables, one after the other). The writer is made to abort after the 1st, 2nd
//! and 7th table commit of a run (between two tables of one batch) and after an upload, then
//! SIGKILLed at random moments, then two writers share the group through a rebalance (one is
//! killed and comes back); after a clean drain every event is in its project's table exactly
//! once, and in no other.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::{config, kill_after_progress, run_until_crash, spawn};
use lakehouse_event::EnrichedEvent;
use lakehouse_lake::{LakeLocation, TablePath, event_id_counts, open_table};
use lakehouse_testkit::{SESSION_TIMEOUT, Stack, TestTopic, produce, reference_event, unique, wait_until};

const PROJECTS: u64 = 20;
/// Events produced before each crash round: several batches (the child flushes every 40 events).
const ROUND: u64 = 120;
const ROUTED: (&str, &str) = ("LAKE_TABLES", "project");

/// The reference event `i` of `seed`, in project `p00`..`p19`.
fn event(seed: u64, i: u64) -> EnrichedEvent {
    let mut event = reference_event(seed, i);
    event.project_id = format!("p{:02}", i % PROJECTS);
    event
}

/// How many times each `event_id` is in the table at `path` (empty when it does not exist).
async fn id_counts(lake: &LakeLocation, path: &TablePath) -> HashMap<String, i64> {
    let location = path.location(lake);
    let Ok(table) = open_table(location.events_url().expect("a URL"), &location).await else {
        return HashMap::new();
    };
    if table.version().is_none() {
        return HashMap::new();
    }
    let counts = event_id_counts(&table).await.expect("the ids");
    counts.into_iter().map(|(id, n)| (id.to_string(), n)).collect()
}

/// Every project's table checked: each event of the project once, nothing of another project.
async fn check(lake: &LakeLocation, seed: u64, produced: u64) {
    let mut expected: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for i in 0..produced {
        let event = event(seed, i);
        expected
            .entry(event.project_id.clone())
            .or_default()
            .insert(event.event_id.to_string());
    }
    let mut total = 0;
    for (project, ids) in &expected {
        let counts = id_counts(lake, &TablePath::project(project)).await;
        let twice: Vec<_> = counts.iter().filter(|&(_, &n)| n != 1).collect();
        assert!(twice.is_empty(), "{project}: events not once: {twice:?}");
        let held: HashSet<String> = counts.into_keys().collect();
        let foreign = held.difference(ids).count();
        assert_eq!(foreign, 0, "{project} holds {foreign} events of other projects");
        let missing = ids.difference(&held).count();
        assert_eq!(
            missing,
            0,
            "{project} lacks {missing} of its {} events",
            ids.len()
        );
        total += held.len();
    }
    assert_eq!(total as u64, produced);
    assert!(
        id_counts(lake, &TablePath::events()).await.is_empty(),
        "nothing in the lake's own table"
    );
}

/// How many of the produced events some project's table holds (each counted once).
async fn held(lake: &LakeLocation, seed: u64) -> u64 {
    let projects: HashSet<String> = (0..PROJECTS).map(|i| event(seed, i).project_id).collect();
    let mut ids = HashSet::new();
    for project in projects {
        ids.extend(id_counts(lake, &TablePath::project(&project)).await.into_keys());
    }
    ids.len() as u64
}

/// The routing log's version (it moves once per batch, after every table).
async fn watermark_version(lake: &LakeLocation) -> Option<u64> {
    let mut location = lake.clone();
    location.uri = format!("{}/_lakehouse/routing", lake.uri);
    let table = open_table(location.events_url().ok()?, &location).await.ok()?;
    table.version()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_lands_once_in_its_projects_table_across_crashes_between_tables_and_kills() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let lake = stack.s3_lake_uri("lake-routed");
    let group = unique("lake-routed");
    let location = config(&stack, &topic, &lake, &group, &[]).location();
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let mut produced = 0;
    let mut produce_round = async || {
        let events: Vec<_> = (produced..produced + ROUND).map(|i| event(seed, i)).collect();
        produce(&stack, &topic.name, &events).await;
        produced += ROUND;
    };

    // After a table's commit and before the next table's (1, 2, 7), and between an upload and
    // its commit.
    for crash_at in [
        "after-commit:1",
        "after-commit:2",
        "after-upload:3",
        "after-commit:7",
    ] {
        produce_round().await;
        let patience = Duration::from_secs(90);
        run_until_crash(&stack, &topic, &lake, &group, crash_at, &[ROUTED], patience).await;
    }

    // SIGKILLs at random moments, once the new writer has moved the watermark.
    for _ in 0..2 {
        produce_round().await;
        let patience = Duration::from_secs(90);
        kill_after_progress(&stack, &topic, &lake, &group, &[ROUTED], patience, || {
            watermark_version(&location)
        })
        .await;
    }

    // Two writers share the group while events arrive; the first is SIGKILLed (its partitions
    // move to the second) and comes back (they move again).
    let mut first = spawn(&stack, &topic, &lake, &group, &["run"], &[ROUTED]);
    let mut second = spawn(&stack, &topic, &lake, &group, &["run"], &[ROUTED]);
    for _ in 0..3 {
        produce_round().await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("reaped");
    produce_round().await;
    let mut again = spawn(&stack, &topic, &lake, &group, &["run"], &[ROUTED]);
    produce_round().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for child in [&mut second, &mut again] {
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reaped");
    }

    // The group hands partitions to killed members until their sessions end (by the broker's
    // clock): a drain that joins earlier covers only the others, and says so. Drain again until
    // every partition was covered (each drain is a member of its own, so a few at most).
    for attempt in 1..=3 {
        tokio::time::sleep(SESSION_TIMEOUT + Duration::from_secs(1)).await;
        let mut last = spawn(
            &stack,
            &topic,
            &lake,
            &group,
            &["run", "--until-caught-up"],
            &[ROUTED],
        );
        let status = tokio::time::timeout(Duration::from_secs(180), last.wait())
            .await
            .expect("the last drain ends")
            .expect("the child is reaped");
        assert!(status.success(), "the last drain succeeds: {status:?}");
        if held(&location, seed).await == produced {
            break;
        }
        eprintln!("drain {attempt} did not cover every partition; draining again");
    }
    check(&location, seed, produced).await;
}

/// The lake's gauges carry the table: with `LAKE_TABLES=project` the writer reports each
/// project's table (files, checkpoint interval), which the alerts then name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_gauges_name_each_routed_table() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let lake = stack.s3_lake_uri("lake-routed-gauges");
    let group = unique("lake-routed-gauges");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let events: Vec<_> = (0..2 * PROJECTS).map(|i| event(seed, i)).collect();
    produce(&stack, &topic.name, &events).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut writer = config(&stack, &topic, &lake, &group, &["--flush-max-age-ms=200", "run"]);
    writer.lake_tables = ROUTED.1.parse().expect("a routing");
    writer.lake_stats_interval_ms = 100;
    writer.consumer.metrics_addr = ([127, 0, 0, 1], port).into();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let service = tokio::spawn(lakehouse_delta_writer::run(writer, shutdown.clone()));

    let http = reqwest::Client::new();
    let gauge = |text: &str, name: &str, table: &str| -> Option<f64> {
        let series = format!("{name}{{table=\"{table}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .and_then(|value| value.trim().parse().ok())
    };
    wait_until(
        "every project's table in the gauges",
        Duration::from_secs(60),
        || async {
            let text = http
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let missing: Vec<String> = (0..PROJECTS)
                .map(|i| format!("projects/p{i:02}"))
                .filter(|table| {
                    gauge(&text, "lakehouse_lake_files", table).is_none_or(|files| files < 1.0)
                        || gauge(&text, "lakehouse_lake_checkpoint_interval", table).is_none_or(|n| n < 1.0)
                })
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                let lake: Vec<&str> = text
                    .lines()
                    .filter(|line| line.starts_with("lakehouse_lake_"))
                    .collect();
                Err(format!(
                    "not yet reported: {missing:?}; the lake's gauges: {lake:?}"
                ))
            }
        },
    )
    .await;
    shutdown.cancel();
    service.await.expect("no panic").expect("a clean stop");
}
