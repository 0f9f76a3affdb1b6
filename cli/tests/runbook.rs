//! One test per scenario of docs/RUNBOOK.md, on the real stack (Kafka, PostgreSQL, S3): the counts
//! before the incident, after it, and after the repair done as the runbook says.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{Pipeline, drifting};
use lakehouse_testkit::{derived_mismatches, empty_derived_tables, reference_event, stored_offsets};

/// Every timestamp of the reference workload lies in this range.
const ALL: &str = "2026-10-01..2026-11-02";
/// Good events before each incident.
const GOOD: u64 = 1_200;

fn good_events(seed: u64, from: u64, count: u64) -> Vec<lakehouse_event::EnrichedEvent> {
    (from..from + count).map(|i| reference_event(seed, i)).collect()
}

async fn assert_consistent(pipeline: &mut Pipeline) {
    let pool = pipeline.pool().await;
    assert_eq!(
        derived_mismatches(&pool).await,
        vec![],
        "derived tables = recomputation"
    );
    assert_eq!(empty_derived_tables(&pool).await, Vec::<&str>::new());
}

/// (a) A bad deploy wrote garbage into both stores: restore the lake to the version before it,
/// find the hours with reconcile, rebuild them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_is_undone_by_a_lake_restore_and_a_rebuild() {
    let mut pipeline = Pipeline::new("runbook-a").await;
    pipeline.produce(&good_events(1, 0, GOOD)).await;
    pipeline.drain_lake().await;
    pipeline.drain_warehouse().await;
    let good_version = pipeline.lake_version().await;
    let day = "2026-10-20";
    let (good_day, _) = pipeline.warehouse_counts(Some(day)).await;
    assert_eq!(pipeline.lake_count(None).await, GOOD as i64);
    assert_eq!(pipeline.warehouse_counts(None).await, (GOOD as i64, GOOD as i64));
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);
    let before = pipeline.fingerprint().await;

    // The bad deploy: 300 events sent again under new ids with their time shifted into one day
    // (as a broken clock correction would). Their funnel steps belong to sessions that also have
    // good events on other days, so the funnel rows of sessions crossing the range's edges move.
    let garbage: Vec<_> = (0..300)
        .map(|i| {
            let mut event = reference_event(1, i);
            event.event_id = uuid::Uuid::new_v4();
            event.timestamp = Utc.with_ymd_and_hms(2026, 10, 20, 0, 0, 0).unwrap()
                + Duration::minutes((i * 7 % 1440) as i64);
            event
        })
        .collect();
    assert!(garbage.iter().any(|e| e.event_type == "funnel_step"));
    pipeline.produce(&garbage).await;
    pipeline.drain_lake().await;
    pipeline.drain_warehouse().await;
    let offsets = stored_offsets(&pipeline.pool().await).await;
    assert_eq!(pipeline.lake_count(None).await, GOOD as i64 + 300);
    assert_eq!(
        pipeline.warehouse_counts(Some(day)).await,
        (good_day + 300, good_day + 300)
    );
    // Both stores hold the garbage alike: reconcile cannot tell, the restore must.
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);

    // Runbook (a): restore the lake, reconcile to see which hours differ, rebuild them.
    pipeline.restore_lake(good_version).await;
    assert_eq!(pipeline.lake_count(None).await, GOOD as i64);
    // The writer keeps its positions: it does not write the garbage again.
    pipeline.drain_lake().await;
    assert_eq!(pipeline.lake_count(None).await, GOOD as i64);
    let (code, report) = pipeline.reconcile(ALL).await;
    assert_eq!(code, 2, "the restored lake differs from the warehouse");
    let rows = drifting(&report);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|(hour, ..)| hour.starts_with(day)), "{rows:?}");
    assert_eq!(
        rows.iter().map(|(_, _, l, w, _)| w - l).sum::<i64>(),
        300,
        "the garbage, hour by hour"
    );

    let range = "2026-10-20..2026-10-21";
    let dry = pipeline.rebuild(range, &["--dry-run"]).await;
    assert_eq!(dry["deleted_events"], good_day + 300);
    assert_eq!(dry["inserted_events"], good_day);
    assert_eq!(
        pipeline.warehouse_counts(Some(day)).await.0,
        good_day + 300,
        "a dry run changes nothing"
    );

    let rebuilt = pipeline.rebuild(range, &[]).await;
    assert_eq!(rebuilt["deleted_events"], good_day + 300);
    assert_eq!(rebuilt["inserted_events"], good_day);
    assert_eq!(pipeline.warehouse_counts(None).await, (GOOD as i64, GOOD as i64));
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);
    assert_consistent(&mut pipeline).await;
    assert_eq!(
        pipeline.fingerprint().await,
        before,
        "exactly the state before the bad deploy"
    );
    assert_eq!(
        stored_offsets(&pipeline.pool().await).await,
        offsets,
        "offsets unchanged"
    );

    // Idempotent: a second run changes nothing.
    pipeline.rebuild(range, &[]).await;
    assert_eq!(pipeline.fingerprint().await, before);
}

/// (b) The warehouse database is lost: recreate it, migrate, rebuild everything from the lake,
/// and let the processor resume from the start of the topic without counting anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_warehouse_is_rebuilt_from_the_lake() {
    let mut pipeline = Pipeline::new("runbook-b").await;
    pipeline.produce(&good_events(3, 0, GOOD)).await;
    pipeline.drain_lake().await;
    pipeline.drain_warehouse().await;
    assert_eq!(pipeline.warehouse_counts(None).await, (GOOD as i64, GOOD as i64));
    let before = pipeline.fingerprint().await;

    // The incident: the database is gone; an empty one takes its place.
    pipeline.replace_database().await;
    pipeline.migrate().await;
    assert_eq!(pipeline.warehouse_counts(None).await, (0, 0));
    let (code, report) = pipeline.reconcile(ALL).await;
    assert_eq!(code, 2);
    assert_eq!(report["lake_events"], GOOD);
    assert_eq!(report["warehouse_events"], 0);

    // Runbook (b): rebuild everything the lake holds.
    let rebuilt = pipeline.rebuild(ALL, &[]).await;
    assert_eq!(rebuilt["inserted_events"], GOOD);
    assert_eq!(pipeline.warehouse_counts(None).await, (GOOD as i64, GOOD as i64));
    assert_eq!(
        pipeline.fingerprint().await,
        before,
        "the same warehouse as before the loss"
    );
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);
    assert_consistent(&mut pipeline).await;

    // The processor has no stored offsets: it reads the topic from its start, skips what the
    // rebuild inserted, and goes on with what comes next.
    assert_eq!(stored_offsets(&pipeline.pool().await).await, 0);
    pipeline.produce(&good_events(3, GOOD, 200)).await;
    pipeline.drain_warehouse().await;
    pipeline.drain_lake().await;
    let total = GOOD as i64 + 200;
    assert_eq!(pipeline.warehouse_counts(None).await, (total, total));
    assert_eq!(stored_offsets(&pipeline.pool().await).await, total);
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);
    assert_consistent(&mut pipeline).await;
}

/// (c) A derived table silently stops filling while raw events keep arriving: reconcile reports
/// the drift and exits non-zero; after the fix, rebuilding the hours it names repairs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_found_by_reconcile_is_repaired_by_rebuilding_its_hours() {
    let mut pipeline = Pipeline::new("runbook-c").await;
    pipeline.produce(&good_events(4, 0, GOOD)).await;
    pipeline.drain_lake().await;
    pipeline.drain_warehouse().await;
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);

    // The incident: the rollups stop taking rows (silently: the batches still commit).
    let pool = pipeline.pool().await;
    sqlx::raw_sql(
        "CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
         CREATE TRIGGER broken BEFORE INSERT OR UPDATE ON event_rollups_minute
         FOR EACH ROW EXECUTE FUNCTION swallow();",
    )
    .execute(&pool)
    .await
    .expect("the broken trigger");
    pipeline.produce(&good_events(4, GOOD, 300)).await;
    pipeline.drain_lake().await;
    pipeline.drain_warehouse().await;
    let total = GOOD as i64 + 300;
    assert_eq!(pipeline.lake_count(None).await, total);
    assert_eq!(pipeline.warehouse_counts(None).await, (total, GOOD as i64));

    let (code, report) = pipeline.reconcile(ALL).await;
    assert_eq!(code, 2, "drift is a non-zero exit");
    let rows = drifting(&report);
    assert!(
        rows.iter()
            .all(|(_, _, lake, warehouse, rollups)| lake == warehouse && rollups < lake)
    );
    assert_eq!(rows.iter().map(|(_, _, l, _, r)| l - r).sum::<i64>(), 300);
    // The table format names the hours too, and the metrics file carries the drift.
    let metrics = std::env::temp_dir().join(format!("reconcile-{}.prom", uuid::Uuid::new_v4()));
    let table = pipeline
        .lakehouse(&[
            "warehouse",
            "reconcile",
            &format!("--range={ALL}"),
            &format!("--metrics-file={}", metrics.display()),
        ])
        .await;
    assert_eq!(table.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&table.stdout).contains("DRIFT"));
    let text = std::fs::read_to_string(&metrics).expect("the metrics file");
    assert!(
        text.contains("lakehouse_reconcile_drift_events{store=\"rollups\"} 300\n"),
        "{text}"
    );
    std::fs::remove_file(&metrics).ok();

    // Runbook (c): fix the cause, then rebuild from the first to the last drifting hour.
    sqlx::raw_sql("DROP TRIGGER broken ON event_rollups_minute")
        .execute(&pool)
        .await
        .expect("the fix");
    let first = &rows.first().expect("drift").0;
    let last: chrono::DateTime<Utc> = rows.last().expect("drift").0.parse().expect("an hour");
    let range = format!("{first}..{}", (last + Duration::hours(1)).to_rfc3339());
    pipeline.rebuild(&range, &[]).await;
    assert_eq!(pipeline.warehouse_counts(None).await, (total, total));
    assert_eq!(pipeline.reconcile(ALL).await.0, 0);
    assert_consistent(&mut pipeline).await;
}
