//! The drill of docs/RUNBOOK.md, "the lake's bucket is gone", on the stack's S3 with two buckets
//! and the real binaries (the writer, and `lakehouse lake backup`): the lake is backed up to a second bucket while the writer runs, writing
//! goes on, the lake's bucket is deleted, the copy is copied back, and the writer, started again,
//! refills from Kafka what came after the backup (the copy's log holds the offsets it had
//! reached): every event once in the lake.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{config, id_counts, spawn};
use lakehouse_lake::open_table;
use lakehouse_testkit::{Stack, TestTopic, produce, reference_event, unique, wait_until};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_bucket_is_restored_from_its_backup_and_refilled_from_kafka() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let (primary, second) = (unique("lake-primary"), unique("lake-copy"));
    for bucket in [&primary, &second] {
        bucket_request(&stack, reqwest::Method::PUT, bucket).await;
    }
    let lake = format!("s3://{primary}/lake");
    let copy = format!("s3://{second}/lake");
    let group = unique("lake-backup");
    let table = config(&stack, &topic, &lake, &group, &[]);
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let events = |range: std::ops::Range<u64>| range.map(|i| reference_event(seed, i)).collect::<Vec<_>>();
    let holds = async |count: usize| {
        wait_until(&format!("{count} events in the lake"), PATIENCE, || async {
            let counts = id_counts(&table).await;
            (counts.len() == count)
                .then_some(counts.clone())
                .ok_or(format!("{} of {count}", counts.len()))
        })
        .await
    };

    produce(&stack, &topic.name, &events(0..300)).await;
    let mut writer = spawn(&stack, &topic, &lake, &group, &["run"], &[]);
    holds(300).await;

    // The backup, as a CronJob runs it, checked; run again, it copies nothing new.
    let first = cli(&stack, &lake, &["backup", "--to", &copy, "--verify"]);
    assert!(first["copied_files"].as_u64() > Some(2), "{first}");
    let backed_up_version = first["version"].as_u64().expect("a version");
    let again = cli(&stack, &lake, &["backup", "--to", &copy]);
    assert_eq!(again["copied_files"], 0, "incremental: {again}");
    assert!(
        again["skipped_files"].as_u64() >= first["copied_files"].as_u64(),
        "{again}"
    );

    // Writing goes on after the backup.
    produce(&stack, &topic.name, &events(300..600)).await;
    holds(600).await;

    // The lake's bucket is gone; the writers are stopped first (SIGTERM: they leave the group).
    stop(&mut writer).await;
    delete_bucket(&stack, &table.location(), &primary).await;
    let location = table.location();
    let gone = open_table(location.events_url().expect("a URL"), &location).await;
    assert!(gone.is_err(), "the lake's bucket is gone");

    // Restored: the copy copied back into a bucket of the same name.
    bucket_request(&stack, reqwest::Method::PUT, &primary).await;
    let restored = cli(&stack, &copy, &["backup", "--to", &lake, "--verify"]);
    assert_eq!(
        restored["version"].as_u64(),
        Some(backed_up_version),
        "{restored}"
    );
    assert_eq!(
        id_counts(&table).await.len(),
        300,
        "the copy holds what was backed up"
    );

    // The writer refills what came after the backup from Kafka, each event once.
    let mut writer = spawn(&stack, &topic, &lake, &group, &["run"], &[]);
    let counts = holds(600).await;
    writer.start_kill().expect("SIGKILL");
    let twice: Vec<_> = counts.iter().filter(|&(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "events not once: {twice:?}");
    let expected: HashSet<String> = events(0..600).iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(counts.into_keys().collect::<HashSet<_>>(), expected);
}

/// SIGTERM, and a clean exit.
async fn stop(writer: &mut tokio::process::Child) {
    let pid = writer.id().expect("a pid").to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    assert!(sent.expect("kill runs").success());
    let status = tokio::time::timeout(PATIENCE, writer.wait()).await;
    assert!(
        status.is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "the writer exits cleanly on SIGTERM"
    );
}

/// Runs `lakehouse lake <args>` on `lake` as an operator would; its JSON result.
fn cli(stack: &Stack, lake: &str, args: &[&str]) -> Value {
    let mut location = vec![format!("--lake-uri={lake}")];
    location.extend(stack.aws_flags());
    let output = std::process::Command::new(lakehouse_testkit::binary("lakehouse"))
        .arg("lake")
        .args(args)
        .args(location)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON result")
}

/// Creates (PUT) or deletes (DELETE) `bucket` on the stack's S3.
async fn bucket_request(stack: &Stack, method: reqwest::Method, bucket: &str) {
    let url = format!("{}/{bucket}", stack.aws_endpoint_url);
    let answer = reqwest::Client::new()
        .request(method.clone(), &url)
        .send()
        .await
        .expect("S3 answers");
    assert!(
        answer.status().is_success(),
        "{method} {url}: {}",
        answer.status()
    );
}

/// Deletes every object of the lake's table, then its bucket.
async fn delete_bucket(stack: &Stack, location: &lakehouse_lake::LakeLocation, bucket: &str) {
    use deltalake::logstore::object_store::ObjectStoreExt;
    use futures::TryStreamExt;
    let table = open_table(location.events_url().expect("a URL"), location)
        .await
        .expect("the table");
    let store = table.object_store();
    let objects: Vec<_> = store.list(None).try_collect().await.expect("the objects");
    for object in objects {
        store.delete(&object.location).await.expect("deleted");
    }
    bucket_request(stack, reqwest::Method::DELETE, bucket).await;
}
