//! Two writers on one table through rebalances, with optimize running beside them, on real Kafka
//! and the S3 store (moto): a second writer joins, the first is SIGKILLed and comes back, and
//! optimize compacts the table again and again while both commit. Every event ends in the table
//! once, optimize commits without disturbing them, and `verify` finds the table sound.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{config, id_counts, spawn, version};
use lakehouse_lake::{AsOf, OptimizeOptions, open_at, optimize, verify};
use lakehouse_testkit::{Stack, TestTopic, produce, reference_event, unique, wait_until};

const TOTAL: u64 = 1_200;
const CHUNK: u64 = 100;
const PATIENCE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_through_rebalances_and_optimize_beside_them_write_every_event_once() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 6).await;
    let lake = stack.s3_lake_uri("lake-two-writers");
    let group = unique("lake-two-writers");
    let table = config(&stack, &topic, &lake, &group, &[]);
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;

    let mut first = spawn(&stack, &topic, &lake, &group, &["run"], &[]);
    // Events keep arriving through everything below.
    let producer = {
        let stack = stack.clone();
        let topic = topic.name.clone();
        tokio::spawn(async move {
            for chunk in 0..TOTAL / CHUNK {
                let events: Vec<_> = (chunk * CHUNK..(chunk + 1) * CHUNK)
                    .map(|i| reference_event(seed, i))
                    .collect();
                produce(&stack, &topic, &events).await;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        })
    };
    // Optimize, again and again, while the writers commit.
    let stop = Arc::new(AtomicBool::new(false));
    let optimizer = {
        let lake = table.location();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut compacted = 0;
            while !stop.load(Ordering::SeqCst) {
                if let Ok(latest) = open_at(&lake, &AsOf::default()).await {
                    let options = OptimizeOptions {
                        target_size: 64 * 1024 * 1024,
                        zorder: vec![],
                        ..OptimizeOptions::default()
                    };
                    let optimized = optimize(latest, &options)
                        .await
                        .expect("optimize beside running writers");
                    if optimized.files_removed > 0 {
                        compacted += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            compacted
        })
    };

    let rows_at_least = |n: usize| {
        let table = table.clone();
        async move {
            wait_until(&format!("{n} rows"), PATIENCE, || async {
                let rows = id_counts(&table).await.len();
                if rows >= n {
                    Ok(())
                } else {
                    Err(format!("{rows} rows"))
                }
            })
            .await;
        }
    };
    rows_at_least(200).await;
    let mut second = spawn(&stack, &topic, &lake, &group, &["run"], &[]);
    rows_at_least(500).await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("the killed writer is reaped");
    rows_at_least(800).await;
    let mut first = spawn(&stack, &topic, &lake, &group, &["run"], &[]);

    producer.await.expect("every event produced");
    wait_until(&format!("{TOTAL} events, each once"), PATIENCE, || async {
        let counts = id_counts(&table).await;
        let twice = counts.values().filter(|&&n| n > 1).count();
        assert_eq!(twice, 0, "events written twice");
        if counts.len() as u64 == TOTAL {
            Ok(())
        } else {
            Err(format!("{} events", counts.len()))
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let compacted = optimizer.await.expect("the optimizer ends");
    first.start_kill().expect("SIGKILL");
    second.start_kill().expect("SIGKILL");

    assert!(
        compacted >= 2,
        "optimize compacted the table while it was written: {compacted}"
    );
    let counts = id_counts(&table).await;
    assert_eq!(counts.len() as u64, TOTAL);
    assert!(counts.values().all(|&n| n == 1), "optimize duplicated no row");
    let latest = open_at(&table.location(), &AsOf::default())
        .await
        .expect("latest");
    let verified = verify(&latest).await.expect("verify");
    assert_eq!(verified.problems(), Vec::<String>::new());
    assert!(version(&table).await.is_some());
}
