//! GDPR across both stores on the real stack: a user present in the warehouse and the lake is
//! exported from both, then erased from both with one command; afterwards no table holds their
//! rows, every derived table equals its recomputation from the remaining raw events, the stores
//! agree, and the audit log and the lake's commit record the erasure without the user's id.

mod common;

use common::Pipeline;
use lakehouse_testkit::{derived_mismatches, empty_derived_tables, reference_event, stored_offsets};

/// Every timestamp of the reference workload lies in this range.
const ALL: &str = "2026-10-01..2026-11-02";
const EVENTS: u64 = 1_500;
const VICTIM: &str = "gdpr-subject-7";

/// The workload, with the subject's id on some events: every funnel step among the first 300
/// events (so funnel rows of shared sessions must be recomputed) and one event in 97 besides.
fn workload() -> (Vec<lakehouse_event::EnrichedEvent>, usize) {
    let mut theirs = 0;
    let events = (0..EVENTS)
        .map(|i| {
            let mut event = reference_event(20, i);
            if (i < 300 && event.event_type == "funnel_step") || i % 97 == 5 {
                event.user_id = Some(VICTIM.into());
                theirs += 1;
            }
            event
        })
        .collect();
    (events, theirs)
}

async fn warehouse_rows_of(pipeline: &mut Pipeline, user: &str) -> i64 {
    let pool = pipeline.pool().await;
    sqlx::query_scalar("SELECT count(*) FROM events WHERE user_id = $1")
        .bind(user)
        .fetch_one(&pool)
        .await
        .expect("a count")
}

async fn lake_rows_of(pipeline: &Pipeline, user: &str) -> i64 {
    let config = pipeline.writer_config(&[]);
    let table = lakehouse_lake::open_at(&config.location(), &Default::default())
        .await
        .expect("the lake");
    let rows = lakehouse_lake::export_user(
        &table,
        &lakehouse_lake::User {
            user_id: user.into(),
            project_id: None,
        },
    )
    .await
    .expect("the lake's rows");
    rows.iter().map(|batch| batch.num_rows() as i64).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_exported_from_and_erased_from_both_stores() {
    let mut pipeline = Pipeline::new("gdpr").await;
    let (events, theirs) = workload();
    assert!(theirs >= 20, "{theirs} events of the subject");
    pipeline.produce(&events).await;
    pipeline.drain_lake().await;
    pipeline.drain_warehouse().await;
    let total = EVENTS as i64;
    let theirs = theirs as i64;
    assert_eq!(warehouse_rows_of(&mut pipeline, VICTIM).await, theirs);
    assert_eq!(lake_rows_of(&pipeline, VICTIM).await, theirs);
    let pool = pipeline.pool().await;
    let offsets = stored_offsets(&pool).await;

    // Access: both stores' rows, as JSON.
    let export = pipeline
        .lakehouse(&["user", "export", &format!("--user-id={VICTIM}"), "--actor=dpo"])
        .await;
    assert!(export.status.success());
    let export: serde_json::Value = serde_json::from_slice(&export.stdout).expect("JSON");
    for store in ["warehouse", "lake"] {
        let rows = export[store].as_array().expect("rows");
        assert_eq!(rows.len() as i64, theirs, "{store}");
        assert!(rows.iter().all(|row| row["user_id"] == VICTIM), "{store}");
    }

    // A dry run counts and changes nothing.
    let before = pipeline.fingerprint().await;
    let dry = pipeline
        .lakehouse(&[
            "user",
            "erase",
            &format!("--user-id={VICTIM}"),
            "--dry-run",
            "--actor=dpo",
        ])
        .await;
    assert!(dry.status.success());
    let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).expect("JSON");
    assert_eq!(dry["warehouse"]["events"], theirs);
    assert_eq!(dry["lake"]["rows"], theirs);
    assert_eq!(pipeline.fingerprint().await, before);

    // The erasure.
    let erased = pipeline
        .lakehouse(&["user", "erase", &format!("--user-id={VICTIM}"), "--actor=dpo"])
        .await;
    assert!(erased.status.success());
    let erased: serde_json::Value = serde_json::from_slice(&erased.stdout).expect("JSON");
    assert_eq!(erased["warehouse"]["events"], theirs);
    assert_eq!(erased["lake"]["rows"], theirs);
    assert!(
        erased["warehouse"]["events_recomputed"]
            .as_i64()
            .expect("a count")
            > 0
    );
    assert!(
        erased["warehouse"]["funnel_rows_recomputed"]
            .as_i64()
            .expect("a count")
            > 0
    );

    // Every table: no row of theirs, the others untouched, the dashboards = their recomputation.
    assert_eq!(warehouse_rows_of(&mut pipeline, VICTIM).await, 0);
    assert_eq!(lake_rows_of(&pipeline, VICTIM).await, 0);
    assert_eq!(
        pipeline.warehouse_counts(None).await,
        (total - theirs, total - theirs),
        "raw events and the rollups' count"
    );
    assert_eq!(pipeline.lake_count(None).await, total - theirs);
    assert_eq!(
        derived_mismatches(&pool).await,
        vec![],
        "derived tables = recomputation"
    );
    assert_eq!(empty_derived_tables(&pool).await, Vec::<&str>::new());
    assert_eq!(stored_offsets(&pool).await, offsets, "the offsets do not move");
    assert_eq!(pipeline.reconcile(ALL).await.0, 0, "the stores agree");
    let everywhere: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM events e WHERE e::text LIKE '%' || $1 || '%')
              + (SELECT count(*) FROM audit_log a WHERE a::text LIKE '%' || $1 || '%')",
    )
    .bind(VICTIM)
    .fetch_one(&pool)
    .await
    .expect("a search");
    assert_eq!(
        everywhere, 0,
        "the id is nowhere in the warehouse, audit log included"
    );

    // The audit log and the lake's commit say who erased whom (by pseudonym).
    let pseudonym = lakehouse_audit::pseudonym(VICTIM);
    let records = lakehouse_audit::list(
        &pool,
        &lakehouse_audit::Filter {
            action: Some("gdpr.".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("the audit log");
    let actions: Vec<(&str, bool, bool)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.arguments["dry_run"] == true, r.ok))
        .collect();
    assert_eq!(
        actions,
        [
            ("gdpr.erase_user", false, true),
            ("gdpr.erase_user", true, true),
            ("gdpr.export_user", false, true)
        ]
    );
    assert!(
        records
            .iter()
            .all(|r| r.actor == "dpo" && r.arguments["user_id_sha256"] == pseudonym)
    );
    let config = pipeline.writer_config(&[]);
    let table = lakehouse_lake::open_at(&config.location(), &Default::default())
        .await
        .expect("the lake");
    let last = &lakehouse_lake::history(&table, Some(1)).await.expect("history")[0];
    let note: serde_json::Value =
        serde_json::from_str(last.user_metadata.as_deref().expect("the commit's userMetadata"))
            .expect("JSON");
    assert_eq!(note["audit"]["action"], "gdpr.erase_user");
    assert_eq!(note["audit"]["actor"], "dpo");
    assert_eq!(note["audit"]["arguments"]["user_id_sha256"], pseudonym);
}

/// Rows left in the processor's fold queue.
async fn queued(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events_to_derive")
        .fetch_one(pool)
        .await
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_folds_what_the_processor_queued_before_it_recomputes() {
    use lakehouse_event::{Batch, Record};

    let stack = lakehouse_testkit::Stack::from_env();
    let database = lakehouse_testkit::TempDatabase::create(&stack).await;
    // Batches committed, their events queued for the derived tables and not folded yet.
    let warehouse =
        lakehouse_warehouse::Warehouse::connect_lazy(&database.url, "gdpr-queue").expect("a pool");
    warehouse.migrate(&Default::default()).await.expect("migrations");
    let (events, theirs) = workload();
    let mut batch = Batch::new("analytics.events");
    for (offset, event) in events.into_iter().enumerate() {
        batch.push(Record {
            event,
            partition: 0,
            offset: offset as i64,
        });
    }
    warehouse.write_batch(&batch).await.expect("the batch");
    let pool = warehouse.pool().clone();
    assert_eq!(queued(&pool).await, EVENTS as i64);

    let user = lakehouse_lake::User {
        user_id: VICTIM.into(),
        project_id: None,
    };
    let options = lakehouse_lake::EraseOptions::default();
    let erased = lakehouse_cli::erase::erase_user(Some(&pool), None, &user, &options)
        .await
        .expect("the erasure");
    assert!(erased.lake.is_none(), "the lake was left alone");
    assert_eq!(erased.warehouse.expect("the warehouse's").events, theirs as u64);
    assert_eq!(queued(&pool).await, 0, "the queue was folded first");
    assert_eq!(empty_derived_tables(&pool).await, Vec::<&str>::new());
    assert_eq!(
        derived_mismatches(&pool).await,
        vec![],
        "derived tables = recomputation from the remaining events"
    );
}
