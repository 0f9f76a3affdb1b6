//! `warehouse rebuild` and `reconcile` over a lake routed by project (DESIGN.md §8.6, §9): the
//! warehouse holds every event while the lake spreads them over tables, so both read every table
//! of the lake, or one project's table against that project's share of the warehouse.

mod common;

use std::collections::BTreeSet;

use common::{migrated_database, run_lakehouse, strings};
use lakehouse_event::{Batch, EnrichedEvent, Record};
use lakehouse_lake::{EventsWriter, LakeLocation, RoutedWriter, Routing, WriterOptions};
use lakehouse_testkit::{
    Stack, TempDatabase, derived_mismatches, empty_derived_tables, reference_event, unique,
};
use sqlx::PgPool;

/// Every timestamp of the reference workload.
const ALL: &str = "--range=2026-10-01..2026-11-02";
/// Events routed to the projects' tables.
const ROUTED: u64 = 900;
/// Events in the lake's own table, of a project of their own (written before routing was on).
const LEGACY: u64 = 90;
/// A project id that is not a folder name as it is.
const HOSTILE: &str = "a/../b";

/// The routed events: the reference workload's `shop` and `docs`, and every seventh `HOSTILE`.
fn routed_events() -> Vec<EnrichedEvent> {
    (0..ROUTED)
        .map(|index| {
            let mut event = reference_event(21, index);
            if index % 7 == 0 {
                event.project_id = HOSTILE.into();
            }
            event
        })
        .collect()
}

fn legacy_events() -> Vec<EnrichedEvent> {
    (0..LEGACY)
        .map(|index| {
            let mut event = reference_event(22, index);
            event.project_id = "legacy".into();
            event
        })
        .collect()
}

fn batch(events: &[EnrichedEvent]) -> Batch {
    let mut batch = Batch::new("t");
    for (offset, event) in events.iter().enumerate() {
        batch.push(Record {
            event: event.clone(),
            partition: 0,
            offset: offset as i64,
        });
    }
    batch
}

/// The event ids the warehouse holds (of one project if given).
async fn warehouse_ids(pool: &PgPool, project_id: Option<&str>) -> BTreeSet<uuid::Uuid> {
    sqlx::query_scalar("SELECT event_id FROM events WHERE $1::text IS NULL OR project_id = $1")
        .bind(project_id)
        .fetch_all(pool)
        .await
        .expect("the warehouse's ids")
        .into_iter()
        .collect()
}

fn ids<'a>(events: impl IntoIterator<Item = &'a EnrichedEvent>) -> BTreeSet<uuid::Uuid> {
    events.into_iter().map(|event| event.event_id).collect()
}

/// The derived tables equal a recomputation from the raw events, and none is empty.
async fn assert_derived(pool: &PgPool, when: &str) {
    assert_eq!(
        derived_mismatches(pool).await,
        vec![],
        "{when}: derived = recomputation"
    );
    assert_eq!(empty_derived_tables(pool).await, Vec::<&str>::new(), "{when}");
}

/// `lakehouse warehouse <command> <args>` on the lake `lake` and the database `database`: its
/// exit code and its JSON result (`null` when it printed none).
fn warehouse(
    command: &str,
    args: &[&str],
    lake: &[String],
    database: &TempDatabase,
) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["warehouse", command, ALL];
    all.extend(args);
    if command == "reconcile" {
        all.push("--output=json");
    }
    let (code, stdout) = run_lakehouse(&strings(
        &all,
        &[lake.to_vec(), vec![format!("--database-url={}", database.url)]].concat(),
    ));
    let result = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (code, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_and_reconcile_read_every_routed_table_or_one_projects_share() {
    let stack = Stack::from_env();
    let dir = std::env::temp_dir().join(unique("routed-rebuild"));
    let lake = LakeLocation::new(dir.display().to_string());
    let lake_flag = vec![format!("--lake-uri={}", dir.display())];
    // The lake's own table from before routing, then the projects' tables.
    let legacy = legacy_events();
    let mut plain = EventsWriter::open_or_create(&lake, &WriterOptions::new("old"))
        .await
        .expect("the lake's own table");
    plain.write(&batch(&legacy)).await.expect("a commit");
    let routed = routed_events();
    let mut writer = RoutedWriter::open(&lake, Routing::Project, &WriterOptions::new("g"))
        .await
        .expect("the routed lake");
    writer.write(&batch(&routed)).await.expect("a routed batch");
    let of = |project: &str| ids(routed.iter().filter(|e| e.project_id == project));
    let (shop, docs, hostile) = (of("shop"), of("docs"), of(HOSTILE));
    assert!(!shop.is_empty() && !docs.is_empty() && !hostile.is_empty());
    let every = ids(routed.iter().chain(&legacy));

    // Every table, into an empty warehouse: every event once, the derived tables as recomputed.
    let database = migrated_database(&stack).await;
    let pool = PgPool::connect(&database.url).await.expect("the warehouse");
    let (code, rebuilt) = warehouse("rebuild", &[], &lake_flag, &database);
    assert_eq!(code, Some(0), "{rebuilt}");
    assert_eq!(rebuilt["inserted_events"], ROUTED + LEGACY, "{rebuilt}");
    let read: BTreeSet<&str> = rebuilt["tables"]
        .as_array()
        .expect("the tables read")
        .iter()
        .map(|t| t["table"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        read,
        BTreeSet::from([
            "events",
            "projects/a_2F_2E_2E_2Fb",
            "projects/docs",
            "projects/shop"
        ]),
        "{rebuilt}"
    );
    assert_eq!(
        warehouse_ids(&pool, None).await,
        every,
        "every event of every table"
    );
    assert_derived(&pool, "rebuilt from every table").await;

    // Reconcile over every table: no drift.
    let (code, report) = warehouse("reconcile", &[], &lake_flag, &database);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["lake_events"], ROUTED + LEGACY, "{report}");
    assert_eq!(report["warehouse_events"], ROUTED + LEGACY, "{report}");

    // One routed table's events lost from the warehouse (its derived rows left as they were):
    // reconcile over every table sees them missing, and so does that table's, but not another's.
    let lost = sqlx::query("DELETE FROM events WHERE project_id = 'shop'")
        .execute(&pool)
        .await
        .expect("the loss")
        .rows_affected();
    assert_eq!(lost as usize, shop.len());
    let (code, report) = warehouse("reconcile", &[], &lake_flag, &database);
    assert_eq!(code, Some(2), "drift: {report}");
    assert_eq!(
        report["lake_events"].as_i64().expect("lake")
            - report["warehouse_events"].as_i64().expect("warehouse"),
        shop.len() as i64,
        "{report}"
    );
    let (code, report) = warehouse("reconcile", &["--table=projects/shop"], &lake_flag, &database);
    assert_eq!(code, Some(2), "the table's own share drifts: {report}");
    assert_eq!(report["warehouse_events"], 0, "{report}");
    let (code, report) = warehouse(
        "reconcile",
        &[&format!("--table=projects/{HOSTILE}")],
        &lake_flag,
        &database,
    );
    assert_eq!(code, Some(0), "another project's share agrees: {report}");
    assert_eq!(report["lake_events"], hostile.len(), "{report}");
    assert_eq!(report["warehouse_events"], hostile.len(), "{report}");

    // Rebuilding that table alone puts its events back and touches no other project's rows.
    let untouched = |pool: PgPool| async move {
        sqlx::query_as::<_, (String, chrono::DateTime<chrono::Utc>)>(
            "SELECT project_id, max(ingested_at) FROM events WHERE project_id <> 'shop' GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("when the others were inserted")
    };
    let before = untouched(pool.clone()).await;
    let (code, rebuilt) = warehouse("rebuild", &["--table=projects/shop"], &lake_flag, &database);
    assert_eq!(code, Some(0), "{rebuilt}");
    assert_eq!(rebuilt["inserted_events"], shop.len(), "{rebuilt}");
    assert_eq!(rebuilt["project_id"], "shop", "{rebuilt}");
    assert_eq!(warehouse_ids(&pool, None).await, every);
    assert_eq!(
        untouched(pool.clone()).await,
        before,
        "other projects' rows were not replaced"
    );
    assert_derived(&pool, "one project's table rebuilt").await;
    let (code, report) = warehouse("reconcile", &[], &lake_flag, &database);
    assert_eq!(code, Some(0), "{report}");

    // One table into an empty warehouse: that table's events and nothing else.
    let single = migrated_database(&stack).await;
    let single_pool = PgPool::connect(&single.url).await.expect("the warehouse");
    let (code, rebuilt) = warehouse(
        "rebuild",
        &["--table=projects/docs", "--as-of=2100-01-01T00:00:00Z"],
        &lake_flag,
        &single,
    );
    assert_eq!(code, Some(0), "a version of one table: {rebuilt}");
    assert!(rebuilt["lake_version"].is_u64(), "{rebuilt}");
    assert_eq!(warehouse_ids(&single_pool, None).await, docs);
    assert_derived(&single_pool, "one table into an empty warehouse").await;

    // Refused (2): a version of several tables; a table other than a project's beside others.
    let (code, _) = warehouse("rebuild", &["--version=0"], &lake_flag, &single);
    assert_eq!(
        code,
        Some(2),
        "--version without --table on a lake of several tables"
    );
    let (code, _) = warehouse("rebuild", &["--table=events"], &lake_flag, &single);
    assert_eq!(
        code,
        Some(2),
        "the lake's own table beside routed ones has no share to tell"
    );
    let (code, _) = warehouse(
        "reconcile",
        &["--as-of=2030-01-01T00:00:00Z"],
        &lake_flag,
        &single,
    );
    assert_eq!(
        code,
        Some(2),
        "--as-of without --table on a lake of several tables"
    );
    assert_eq!(
        warehouse_ids(&single_pool, None).await,
        docs,
        "a refusal changes nothing"
    );

    // A lake that holds no table is an error (1), not an empty rebuild.
    let nowhere = std::env::temp_dir().join(unique("no-lake"));
    std::fs::create_dir_all(&nowhere).expect("an empty folder");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(["warehouse", "rebuild", ALL, "--quiet", "--log-format=pretty"])
        .arg(format!("--lake-uri={}", nowhere.display()))
        .arg(format!("--database-url={}", single.url))
        .output()
        .expect("lakehouse runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(warehouse_ids(&single_pool, None).await, docs);

    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&nowhere).ok();
}
