//! A rebuild while the stream-processor writes the same events (it replays the topic into an
//! empty warehouse, as after runbook (b)): neither fails, readers never see the range half
//! rebuilt, and the result is every event once with derived tables equal to a recomputation.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::Pipeline;
use lakehouse_testkit::warehouse::PATIENCE;
use lakehouse_testkit::{derived_mismatches, reference_event, stored_offsets, wait_for_rows, wait_until};

const ALL: &str = "2026-10-01..2026-11-02";
const EVENTS: i64 = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_beside_a_replaying_processor_counts_every_event_once() {
    let mut pipeline = Pipeline::new("concurrent").await;
    let events: Vec<_> = (0..EVENTS as u64).map(|i| reference_event(5, i)).collect();
    pipeline.produce(&events).await;
    pipeline.drain_lake().await;
    pipeline.migrate().await;
    let pool = pipeline.pool().await;

    // A reader that samples the count all along: an atomic rebuild never lowers it (the
    // processor only adds, the rebuild swaps the range for the same events at once).
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let (pool, stop) = (pool.clone(), Arc::clone(&stop));
        async move {
            let (mut last, mut samples) = (0i64, 0u32);
            while !stop.load(Ordering::Relaxed) {
                let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                    .fetch_one(&pool)
                    .await
                    .expect("a count");
                assert!(count >= last, "a reader saw {count} events after {last}");
                (last, samples) = (count, samples + 1);
            }
            samples
        }
    });

    let running = pipeline.start_processor();
    wait_until("the processor to start replaying", PATIENCE, || async {
        match stored_offsets(&pool).await {
            0 => Err("no batch yet".to_string()),
            n => Ok(n),
        }
    })
    .await;
    let rebuilt = pipeline.rebuild(ALL, &[]).await;
    // The events the rebuild found (and replaced) are those the processor had written by then.
    let replayed_at_commit = rebuilt["deleted_events"].as_i64().expect("deleted");
    eprintln!("the processor had written {replayed_at_commit} events when the rebuild took its lock");

    wait_for_rows(&pool, EVENTS).await;
    wait_until("every offset stored", PATIENCE, || async {
        match stored_offsets(&pool).await {
            n if n == EVENTS => Ok(()),
            n => Err(format!("{n} stored")),
        }
    })
    .await;
    running.stop().await;
    stop.store(true, Ordering::Relaxed);
    let samples = reader.await.expect("the reader never saw the count drop");
    assert!(samples > 10, "only {samples} samples");
    assert!(
        replayed_at_commit > 0 && replayed_at_commit < EVENTS,
        "the rebuild ran while the replay was still going"
    );

    assert_eq!(pipeline.warehouse_counts(None).await, (EVENTS, EVENTS));
    assert_eq!(derived_mismatches(&pool).await, vec![]);
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);
}
