//! A rolling upgrade from contract version 1 to 2 on real components (DESIGN.md §5.1): the
//! stores as the version-1 services left them (the warehouse migrated up to the last version-1
//! migration, the lake's table with the version-1 columns and rows the old writer wrote), the
//! topic holding events of the old api, then the new api posting events with campaigns, so that
//! both contract versions are in the topic at once, then the new sinks. Every event lands once in
//! each store, the derived tables equal their recomputation, old events read null campaigns and
//! new ones their campaign in both stores, and `lakehouse warehouse rebuild` rebuilds the warehouse from lake
//! versions on both sides of the change.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use clap::Parser;
use deltalake::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::protocol::SaveMode;
use lakehouse_api::ApiConfig;
use lakehouse_delta_writer::WriterConfig;
use lakehouse_e2e::lake::Lake;
use lakehouse_event::Record;
use lakehouse_event::{EnrichedEvent, UTM_FIELDS};
use lakehouse_lake::{AsOf, PARTITION_COLUMN, events_schema, open_at, query, to_record_batch};
use lakehouse_testkit::service::InProcess;
use lakehouse_testkit::warehouse::assert_exactly_once;
use lakehouse_testkit::{
    Running, Stack, TempDatabase, TestTopic, binary, produce_raw, reference_event, unique, wait_until,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const API_KEY: &str = "upgrade-secret-key";
const PATIENCE: Duration = Duration::from_secs(120);
/// The last migration of contract version 1.
const LAST_V1_MIGRATION: i64 = 5;

/// `event` as the version-1 api wrote it: no campaign fields, `schema_version` 1.
fn version_1(event: &EnrichedEvent) -> EnrichedEvent {
    EnrichedEvent {
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
        utm_term: None,
        utm_content: None,
        schema_version: 1,
        ..event.clone()
    }
}

/// The warehouse as the version-1 stream-processor left it: its migrations only.
async fn version_1_warehouse(database: &TempDatabase) {
    let pool = PgPool::connect(&database.url).await.expect("the database");
    let mut migrator =
        sqlx::migrate::Migrator::new(lakehouse_testkit::repo::path("crates/warehouse/migrations"))
            .await
            .expect("the migrations");
    let old: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|migration| migration.version <= LAST_V1_MIGRATION)
        .cloned()
        .collect();
    assert_eq!(old.len() as i64, LAST_V1_MIGRATION);
    migrator.migrations = Cow::Owned(old);
    migrator.run(&pool).await.expect("the version-1 migrations");
    let columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'events' AND column_name LIKE 'utm%'",
    )
    .fetch_one(&pool)
    .await
    .expect("the columns");
    assert_eq!(columns, 0, "a version-1 warehouse has no campaign columns");
    pool.close().await;
}

/// The lake as the version-1 delta-writer left it: the table with the version-1 columns, and
/// `events` written by it (from a topic since replaced).
async fn version_1_lake(lake: &Lake, events: &[EnrichedEvent]) {
    let table = lakehouse_lake::open_table(lake.location.events_url().expect("a URL"), &lake.location)
        .await
        .expect("the lake");
    let v1_fields: Vec<_> = events_schema()
        .fields()
        .iter()
        .filter(|field| !UTM_FIELDS.contains(&field.name().as_str()))
        .map(|field| field.as_ref().clone())
        .collect();
    let v1_schema = deltalake::arrow::datatypes::Schema::new(v1_fields);
    let kernel: StructType = (&v1_schema).try_into_kernel().expect("a Delta schema");
    let table = table
        .create()
        .with_columns(kernel.fields().cloned())
        .with_partition_columns([PARTITION_COLUMN])
        .await
        .expect("the version-1 table");
    let records: Vec<Record> = events
        .iter()
        .enumerate()
        .map(|(offset, event)| Record {
            event: version_1(event),
            partition: 0,
            offset: offset as i64,
        })
        .collect();
    let rows = to_record_batch(&records, chrono::Utc::now()).expect("rows");
    let keep: Vec<usize> = (0..rows.num_columns())
        .filter(|&i| !UTM_FIELDS.contains(&rows.schema().field(i).name().as_str()))
        .collect();
    let rows = rows.project(&keep).expect("the version-1 columns");
    table
        .write([rows])
        .with_save_mode(SaveMode::Append)
        .await
        .expect("the version-1 rows");
}

/// Starts the api in this process; its `/analytics` URL.
async fn start_api(stack: &Stack, topic: &TestTopic) -> (InProcess, String) {
    let mut args = vec!["api".to_string()];
    args.extend(topic.flags(stack));
    args.push(format!("--api-keys=upgrade:{API_KEY}"));
    args.push("--visitor-id-secret-ephemeral".into());
    let config = ApiConfig::parse_from(args);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/analytics", listener.local_addr().expect("an address"));
    let api = InProcess::spawn(|shutdown| lakehouse_api::serve(config, listener, shutdown));
    (api, url)
}

/// Starts the stream-processor (its binary, built beside the tests) and the delta-writer (in this
/// process).
fn start_sinks(
    stack: &Stack,
    topic: &TestTopic,
    database: &TempDatabase,
    lake: &Lake,
) -> (Running, InProcess) {
    let common = |binary: &str, group: &str| {
        let mut args = vec![binary.to_string()];
        args.extend(topic.flags(stack));
        args.extend([
            format!("--group-id={}", unique(group)),
            "--metrics-addr=127.0.0.1:0".into(),
            "--log-format=pretty".into(),
        ]);
        args
    };
    let mut processor = common("stream-processor", "warehouse");
    processor.extend([
        format!("--database-url={}", database.url),
        "--flush-max-age-ms=200".into(),
    ]);
    let mut writer = common("delta-writer", "lake");
    writer.push("--flush-max-age-ms=500".into());
    writer.extend(lake.flags());
    let processor = Running::spawn(
        tokio::process::Command::new(binary("lakehouse-stream-processor")).args(&processor[1..]),
        "the stream-processor",
    );
    let writer = WriterConfig::parse_from(writer);
    (
        processor,
        InProcess::spawn(|shutdown| lakehouse_delta_writer::run(writer, shutdown)),
    )
}

/// Posts `body` with the key; the ids the api accepted.
async fn post(url: &str, body: &Value, ids: &[Uuid]) -> Vec<Uuid> {
    let response = reqwest::Client::new()
        .post(url)
        .header("x-api-key", API_KEY)
        .json(body)
        .send()
        .await
        .expect("the api answers");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("a JSON answer");
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (202, Some(ids.len() as u64)),
        "{answer}"
    );
    ids.to_vec()
}

/// `(event_id, utm_source, utm_campaign, schema_version)` of every row of a query's answer.
fn campaigns(batches: &[RecordBatch]) -> Vec<(Uuid, Option<String>, Option<String>, i64)> {
    let mut rows = Vec::new();
    for batch in batches {
        let as_type = |i: usize, to: &DataType| cast(batch.column(i), to).expect("a cast");
        let text = |i: usize| as_type(i, &DataType::Utf8).as_string::<i32>().clone();
        let (ids, sources, names) = (text(0), text(1), text(2));
        let versions = as_type(3, &DataType::Int64);
        let versions = versions.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let optional = |array: &StringArray| array.is_valid(row).then(|| array.value(row).to_string());
            rows.push((
                ids.value(row).parse().expect("a uuid"),
                optional(&sources),
                optional(&names),
                versions.value(row),
            ));
        }
    }
    rows.sort();
    rows
}

/// The same from the warehouse.
async fn warehouse_campaigns(pool: &PgPool) -> Vec<(Uuid, Option<String>, Option<String>, i64)> {
    let rows: Vec<(Uuid, Option<String>, Option<String>, i16)> =
        sqlx::query_as("SELECT event_id, utm_source, utm_campaign, schema_version FROM events")
            .fetch_all(pool)
            .await
            .expect("the events");
    let mut rows: Vec<_> = rows
        .into_iter()
        .map(|(id, source, name, version)| (id, source, name, i64::from(version)))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_contract_versions_land_once_in_both_stores_across_a_rolling_upgrade() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let lake = Lake::on_stack(&stack, "upgrade");
    let seed = Uuid::new_v4().as_u64_pair().0;

    // What the version-1 services left: the stores at version 1, the lake holding older events,
    // and the topic holding events of the version-1 api.
    let historic: Vec<EnrichedEvent> = (0..6).map(|i| reference_event(seed, i)).collect();
    version_1_warehouse(&database).await;
    version_1_lake(&lake, &historic).await;
    let before_change = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the version-1 table")
        .version()
        .expect("a version");
    let old: Vec<EnrichedEvent> = (100..140).map(|i| version_1(&reference_event(seed, i))).collect();
    let encoded: Vec<(String, Vec<u8>)> = old
        .iter()
        .map(|event| (event.kafka_key(), serde_json::to_vec(event).expect("JSON")))
        .collect();
    assert!(
        encoded
            .iter()
            .all(|(_, json)| !String::from_utf8_lossy(json).contains("utm_")),
        "version-1 messages carry no campaign"
    );
    produce_raw(&stack, &topic.name, &encoded).await;

    // The new api: the README's sample event, events whose url carries a campaign, and one that
    // sends its campaign itself.
    let (api_service, api) = start_api(&stack, &topic).await;
    let readme_id = Uuid::now_v7();
    let mut new_ids = post(
        &api,
        &json!({"event_id": readme_id, "event_type": "page_view", "session_id": "s-1",
                "url": "https://example.com/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday"}),
        &[readme_id],
    )
    .await;
    let batch: Vec<(Uuid, Value)> = (0..20)
        .map(|i| {
            let id = Uuid::now_v7();
            let url = format!(
                "https://shop.example/p/{i}?utm_source=google&utm_medium=cpc&utm_campaign=shoes-{}",
                i % 2
            );
            let session = format!("s-{}", i % 5);
            // Every derived table gets rows whatever the seeded version-1 events hold: one event
            // in five is a funnel step (the funnels' only input), one in four a conversion.
            let body = if i % 5 == 1 {
                json!({"event_id": id, "event_type": "funnel_step", "session_id": session, "url": url,
                       "properties": {"funnel": "checkout", "step": 1 + i % 3}})
            } else {
                let kind = if i % 4 == 0 { "conversion" } else { "page_view" };
                json!({"event_id": id, "event_type": kind, "session_id": session, "url": url, "value": 10})
            };
            (id, body)
        })
        .collect();
    let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
    new_ids.extend(
        post(
            &api,
            &Value::Array(batch.into_iter().map(|(_, body)| body).collect()),
            &ids,
        )
        .await,
    );
    let sent_id = Uuid::now_v7();
    new_ids.extend(
        post(
            &api,
            &json!({"event_id": sent_id, "event_type": "conversion", "session_id": "s-app", "value": 49.5,
                    "utm_source": "app", "utm_campaign": "spring", "url": "https://shop.example/?utm_source=ignored"}),
            &[sent_id],
        )
        .await,
    );

    // The new sinks, with both versions in the topic.
    let sinks = start_sinks(&stack, &topic, &database, &lake);
    let total = (old.len() + new_ids.len()) as i64;
    let pool = PgPool::connect(&database.url).await.expect("the database");
    assert_exactly_once(
        &pool,
        total,
        "every event of both versions once in the warehouse",
        PATIENCE,
    )
    .await;
    let expected: BTreeSet<Uuid> = historic
        .iter()
        .chain(&old)
        .map(|event| event.event_id)
        .chain(new_ids.iter().copied())
        .collect();
    wait_until("every event once in the lake", PATIENCE, || async {
        let counts = lake.id_counts().await?;
        let ids: BTreeSet<Uuid> = counts.keys().copied().collect();
        if ids == expected && counts.values().all(|&n| n == 1) {
            Ok(())
        } else {
            Err(format!("{} ids, expected {}", ids.len(), expected.len()))
        }
    })
    .await;
    let (processor, writer) = sinks;
    processor.stop().await;
    for service in [writer, api_service] {
        service.stop().await;
    }

    // Old events read null campaigns, new ones theirs, in both stores.
    let expect_campaign = |id: Uuid| -> (Option<String>, Option<String>) {
        if id == readme_id {
            (Some("newsletter".into()), Some("black-friday".into()))
        } else if id == sent_id {
            (Some("app".into()), Some("spring".into()))
        } else if new_ids.contains(&id) {
            (Some("google".into()), None) // the campaign alternates; checked below
        } else {
            (None, None)
        }
    };
    let warehouse = warehouse_campaigns(&pool).await;
    let table = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the table");
    let lake_rows = campaigns(
        &query(
            &table,
            "SELECT event_id, utm_source, utm_campaign, schema_version FROM events",
        )
        .await
        .expect("the lake's campaigns"),
    );
    for (store, rows) in [("warehouse", &warehouse), ("lake", &lake_rows)] {
        for (id, source, name, version) in rows.iter() {
            let (want_source, want_name) = expect_campaign(*id);
            assert_eq!(source, &want_source, "{store}: utm_source of {id}");
            if new_ids.contains(id) {
                assert_eq!(*version, 2, "{store}: {id} is a version-2 event");
                assert!(name.is_some(), "{store}: {id} has its campaign");
                if want_name.is_some() {
                    assert_eq!(name, &want_name, "{store}: utm_campaign of {id}");
                }
            } else {
                assert_eq!(
                    (name.as_deref(), *version),
                    (None, 1),
                    "{store}: {id} is a version-1 event"
                );
            }
        }
    }
    let lake_without_historic: Vec<_> = lake_rows
        .iter()
        .filter(|(id, ..)| !historic.iter().any(|event| event.event_id == *id))
        .cloned()
        .collect();
    assert_eq!(
        lake_without_historic, warehouse,
        "both stores hold the same campaigns"
    );

    // Time travel to before the change still reads the version-1 table.
    let mut old_table = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the table");
    old_table
        .load_version(before_change)
        .await
        .expect("the version-1 version");
    let old_rows = query(&old_table, "SELECT * FROM events")
        .await
        .expect("a query at version 1");
    let schema = old_rows.first().expect("rows").schema();
    assert!(
        schema.field_with_name("utm_source").is_err(),
        "version {before_change} has no campaign column"
    );
    assert_eq!(
        old_rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
        historic.len()
    );

    // A rebuild of the warehouse from the lake, across versions before and after the change.
    let rebuilt = TempDatabase::create(&stack).await;
    lakehouse_warehouse::Warehouse::connect_lazy(&rebuilt.url, "rebuilt")
        .expect("a pool")
        .migrate(&Default::default())
        .await
        .expect("the migrations");
    let mut args = vec![
        "lakehouse".to_string(),
        "warehouse".to_string(),
        "rebuild".to_string(),
        "--range=2026-01-01..2027-12-31".to_string(),
        format!("--database-url={}", rebuilt.url),
    ];
    args.extend(lake.flags());
    lakehouse_cli::execute(&lakehouse_cli::Cli::parse_from(args))
        .await
        .expect("the rebuild");
    let rebuilt_pool = PgPool::connect(&rebuilt.url).await.expect("the rebuilt database");
    assert_eq!(
        warehouse_campaigns(&rebuilt_pool).await,
        lake_rows,
        "the rebuilt warehouse holds the lake's rows, old ones with null campaigns"
    );
    assert_eq!(
        lakehouse_testkit::derived_mismatches(&rebuilt_pool).await,
        Vec::<(&str, i64)>::new(),
        "the rebuilt derived tables equal their recomputation"
    );
}
