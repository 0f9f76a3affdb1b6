//! Schema evolution of the lake (DESIGN.md §8.1): a table written by version-1 writers (no
//! campaign columns) gains them in a metadata commit before our first write; old rows read null
//! campaigns in our query tool and in Python deltalake, time travel to before the change still
//! works; a restore to before it is undone by the next write; two writers adding the columns at
//! once add them once; a column a newer writer added stays; a retyped column is refused.

use chrono::Utc;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::{Int64Type, Schema};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::{DataType, StructField, StructType};
use deltalake::protocol::SaveMode;
use lakehouse_event::{Batch, Record};
use lakehouse_event::{EnrichedEvent, UTM_FIELDS};
use lakehouse_lake::{
    AsOf, EventsWriter, LakeLocation, RestoreOptions, SchemaError, WriterOptions, add_missing_columns,
    events_schema, open_at, open_table, query, restore, to_record_batch, to_records, verify,
};
use lakehouse_testkit::{Stack, reference_event};

use crate::python_reader::{latest_history, read_version_with_python, s3_lake};
use crate::{TempLake, offered};

const SEED: u64 = 21;

/// Reference events at offsets `offsets` of partition 0, as contract version 1 wrote them (no
/// campaign), or as version 2 did with campaign `campaign`.
fn records(offsets: std::ops::Range<i64>, campaign: Option<&str>) -> Vec<Record> {
    offsets
        .map(|offset| {
            let mut event = reference_event(SEED, offset as u64);
            event.utm_source = campaign.map(|_| "newsletter".into());
            event.utm_medium = None;
            event.utm_campaign = campaign.map(Into::into);
            event.utm_term = None;
            event.utm_content = None;
            event.schema_version = if campaign.is_some() { 2 } else { 1 };
            Record {
                event,
                partition: 0,
                offset,
            }
        })
        .collect()
}

/// The records as the consume loop reads them: partition, offset and event.
fn as_read(records: Vec<Record>) -> impl Iterator<Item = (i32, i64, EnrichedEvent)> {
    records.into_iter().map(|r| (r.partition, r.offset, r.event))
}

fn batch_of(records: Vec<Record>) -> Batch {
    let mut batch = Batch::new("t");
    for record in records {
        batch.push(record);
    }
    batch
}

/// Creates `<lake>/events` as version-1 writers did, with the events schema but the campaign
/// columns, and appends `rows` with deltalake's own writer: version 0 creates it, version 1 holds
/// the rows.
async fn version_1_table(location: &LakeLocation, rows: &[Record]) {
    let ours = events_schema();
    let kept: Vec<usize> = (0..ours.fields().len())
        .filter(|&i| !UTM_FIELDS.contains(&ours.field(i).name().as_str()))
        .collect();
    let v1 = Schema::new(kept.iter().map(|&i| ours.field(i).clone()).collect::<Vec<_>>());
    let columns: StructType = (&v1).try_into_kernel().expect("Delta types");
    let table = open_table(location.events_url().expect("a url"), location)
        .await
        .expect("the lake");
    let table = table
        .create()
        .with_columns(columns.fields().cloned())
        .with_partition_columns(["event_date"])
        .await
        .expect("a version-1 table");
    let batch = to_record_batch(rows, Utc::now())
        .expect("rows")
        .project(&kept)
        .expect("the version-1 columns");
    let table = table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .await
        .expect("version-1 rows");
    assert_eq!(table.version(), Some(1));
}

/// The records of the table at `at`, read back through our query tool, by offset.
async fn read_back(location: &LakeLocation, at: AsOf) -> Vec<Record> {
    let table = open_at(location, &at).await.expect("the table");
    let batches = query(&table, "SELECT * FROM events").await.expect("a query");
    let mut records: Vec<Record> = batches
        .iter()
        .flat_map(|batch| to_records(batch).expect("records"))
        .collect();
    records.sort_by_key(|r| r.offset);
    records
}

/// The column names of the table's latest version.
async fn columns(location: &LakeLocation) -> Vec<String> {
    let table = open_at(location, &AsOf::default()).await.expect("the table");
    let schema = table.snapshot().expect("a snapshot").schema();
    schema.fields().map(|f| f.name().clone()).collect()
}

/// Asserts that each campaign column is in `columns` once, after every other column of ours.
fn assert_campaign_columns_once(columns: &[String]) {
    for name in UTM_FIELDS {
        assert_eq!(
            columns.iter().filter(|c| *c == name).count(),
            1,
            "{name} in {columns:?}"
        );
    }
    let first = columns
        .iter()
        .position(|c| c == UTM_FIELDS[0])
        .expect("utm_source");
    assert_eq!(columns[first - 1], "event_date", "{columns:?}");
}

async fn a_version_1_table_evolves(location: LakeLocation, storage: serde_json::Value) {
    let old = records(0..40, None);
    version_1_table(&location, &old).await;
    let before = open_at(&location, &AsOf::default()).await.expect("the table");
    let checked = verify(&before).await.expect("verify");
    assert_eq!(
        checked.problems(),
        Vec::<String>::new(),
        "a version-1 table is sound"
    );
    assert_eq!(checked.columns_to_add, UTM_FIELDS);

    let mut writer = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
        .await
        .expect("the writer");
    writer
        .write(&batch_of(records(40..100, Some("spring-sale"))))
        .await
        .expect("a version-2 write");

    let (version, operations) = latest_history(&location).await;
    assert_eq!(version, 3);
    assert_eq!(
        operations,
        ["WRITE", "ADD COLUMN", "WRITE", "CREATE TABLE"],
        "the columns are added in a commit of their own before the data"
    );
    assert_campaign_columns_once(&columns(&location).await);

    let rows = read_back(&location, AsOf::default()).await;
    assert_eq!(rows.len(), 100);
    for row in &rows {
        let (campaign, version) = (row.event.utm_campaign.as_deref(), row.event.schema_version);
        if row.offset < 40 {
            assert_eq!((campaign, version), (None, 1), "an old row reads a null campaign");
        } else {
            assert_eq!((campaign, version), (Some("spring-sale"), 2));
            assert_eq!(row.event.utm_source.as_deref(), Some("newsletter"));
        }
    }
    let latest = open_at(&location, &AsOf::default()).await.expect("the table");
    let checked = verify(&latest).await.expect("verify");
    assert_eq!(checked.problems(), Vec::<String>::new());
    assert!(checked.columns_to_add.is_empty(), "{checked:?}");

    // Time travel to before the change: that version's schema, and its rows read null campaigns.
    let then = open_at(&location, &TempLake::version(1))
        .await
        .expect("version 1");
    let schema = then.snapshot().expect("a snapshot").schema();
    assert!(
        schema.field("utm_campaign").is_none(),
        "version 1 has no campaign column"
    );
    assert!(
        query(&then, "SELECT utm_campaign FROM events").await.is_err(),
        "version 1 has no campaign column to select"
    );
    let old_rows = read_back(&location, TempLake::version(1)).await;
    assert_eq!(old_rows.len(), 40);
    assert!(old_rows.iter().all(|r| r.event.utm_campaign.is_none()));

    // Python deltalake reads the latest version and the one before the change alike.
    let stack = Stack::from_env();
    let table_uri = format!("{}/events", location.uri.trim_end_matches('/'));
    let seen = read_version_with_python(&stack, &table_uri, &storage, None);
    assert_eq!(seen["rows"], 100);
    assert_eq!(seen["nulls"]["utm_campaign"], 40, "{seen}");
    assert_eq!(seen["nulls"]["event_id"], 0, "{seen}");
    assert_eq!(
        seen["operations"],
        serde_json::to_value(&operations).expect("JSON")
    );
    let seen_then = read_version_with_python(&stack, &table_uri, &storage, Some(1));
    assert_eq!(seen_then["version"], 1);
    assert_eq!(seen_then["rows"], 40);
    assert!(seen_then["nulls"].get("utm_campaign").is_none(), "{seen_then}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_table_gains_the_campaign_columns_before_the_first_version_2_write() {
    let temp = TempLake::new("lake-evolve");
    a_version_1_table_evolves(temp.location.clone(), serde_json::json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_table_on_s3_gains_the_campaign_columns_before_the_first_version_2_write() {
    let (location, storage) = s3_lake(&Stack::from_env(), "evolve");
    a_version_1_table_evolves(location, storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_to_before_the_campaign_columns_is_undone_by_the_next_write() {
    let temp = TempLake::new("lake-evolve-restore");
    version_1_table(&temp.location, &records(0..40, None)).await;
    let mut writer = temp.writer(&WriterOptions::new("g")).await;
    writer
        .write(&batch_of(records(40..100, Some("spring-sale"))))
        .await
        .expect("a version-2 write");

    let latest = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let target = open_at(&temp.location, &TempLake::version(1))
        .await
        .expect("version 1");
    let restored = restore(latest, &target, &RestoreOptions::default())
        .await
        .expect("a restore");
    assert_eq!(restored.new_version, Some(4));
    let after_restore = columns(&temp.location).await;
    assert!(
        !after_restore.iter().any(|c| c == "utm_campaign"),
        "{after_restore:?}"
    );

    // Records offered as the consume loop does, to a writer whose table is at version 3: its
    // commit conflicts with the restore's schema change, and the retry on the reloaded table
    // adds the columns back before the data.
    let held = offered(&mut writer, as_read(records(100..150, Some("autumn"))));
    writer.write(&held).await.expect("a write after the restore");
    let (version, operations) = latest_history(&temp.location).await;
    assert_eq!(version, 6);
    assert_eq!(
        operations[..3],
        ["WRITE", "ADD COLUMN", "RESTORE"],
        "{operations:?}"
    );
    assert_campaign_columns_once(&columns(&temp.location).await);
    let rows = read_back(&temp.location, AsOf::default()).await;
    let campaigns: Vec<(i64, Option<&str>)> = rows
        .iter()
        .map(|r| (r.offset, r.event.utm_campaign.as_deref()))
        .collect();
    let expected: Vec<(i64, Option<&str>)> = (0..40)
        .map(|o| (o, None))
        .chain((100..150).map(|o| (o, Some("autumn"))))
        .collect();
    assert_eq!(campaigns, expected);
    let latest = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(
        verify(&latest).await.expect("verify").problems(),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_adding_the_campaign_columns_at_once_add_them_once() {
    // Two tables loaded at the version-1 schema: the second one's commit loses, and on the
    // reloaded table it finds nothing to add.
    let temp = TempLake::new("lake-evolve-race");
    version_1_table(&temp.location, &records(0..40, None)).await;
    let mut first = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let mut second = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(add_missing_columns(&mut first).await.expect("added"), Some(2));
    assert_eq!(
        add_missing_columns(&mut second).await.expect("nothing to add"),
        None
    );
    assert_eq!(
        second.version(),
        Some(2),
        "the loser reloaded the winner's version"
    );
    let schema = second.snapshot().expect("a snapshot").schema();
    let names: Vec<String> = schema.fields().map(|f| f.name().clone()).collect();
    assert_campaign_columns_once(&names);

    // Two writers opening a version-1 table at once both open it, and it gains the columns once.
    let other = TempLake::new("lake-evolve-race");
    version_1_table(&other.location, &records(0..40, None)).await;
    let options = WriterOptions::new("g");
    let (a, b) = tokio::join!(
        EventsWriter::open_or_create(&other.location, &options),
        EventsWriter::open_or_create(&other.location, &options),
    );
    let (mut a, mut b) = (a.expect("writer a"), b.expect("writer b"));
    a.write(&batch_of(records(40..70, Some("a"))))
        .await
        .expect("a writes");
    b.write(&batch_of(records(70..100, Some("b"))))
        .await
        .expect("b writes");
    let (_, operations) = latest_history(&other.location).await;
    assert_eq!(
        operations.iter().filter(|o| *o == "ADD COLUMN").count(),
        1,
        "{operations:?}"
    );
    assert_campaign_columns_once(&columns(&other.location).await);
    assert_eq!(read_back(&other.location, AsOf::default()).await.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_a_newer_writer_added_stays_and_reads_null_in_our_rows() {
    let temp = TempLake::new("lake-evolve-newer");
    let mut writer = temp.writer(&WriterOptions::new("g")).await;
    writer
        .write(&batch_of(records(0..30, Some("spring-sale"))))
        .await
        .expect("a write");
    // A newer writer adds a column of a contract this build does not know, while ours holds
    // version 1: our next commit conflicts with the schema change and is retried.
    let newer = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let future = StructField::new("utm_future", DataType::STRING, true);
    newer
        .add_columns()
        .with_fields([future])
        .await
        .expect("a newer writer's column");
    let held = offered(&mut writer, as_read(records(30..60, Some("spring-sale"))));
    writer
        .write(&held)
        .await
        .expect("a write beside the newer column");
    let mut reopened = temp.writer(&WriterOptions::new("g")).await;
    reopened
        .write(&batch_of(records(60..90, Some("spring-sale"))))
        .await
        .expect("a write by a writer opened on the newer table");

    let (_, operations) = latest_history(&temp.location).await;
    assert_eq!(
        operations,
        ["WRITE", "WRITE", "ADD COLUMN", "WRITE", "CREATE TABLE"],
        "our writers add nor drop nothing"
    );
    let names = columns(&temp.location).await;
    assert_eq!(names.last().map(String::as_str), Some("utm_future"), "{names:?}");
    assert_campaign_columns_once(&names);
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let counts = query(
        &table,
        "SELECT count(*), count(utm_future), count(utm_campaign) FROM events",
    )
    .await
    .expect("a count");
    let count = |i: usize| counts[0].column(i).as_primitive::<Int64Type>().value(0);
    assert_eq!((count(0), count(1), count(2)), (90, 0, 90));
    let checked = verify(&table).await.expect("verify");
    assert_eq!(checked.problems(), Vec::<String>::new());
    assert_eq!(checked.unknown_columns, ["utm_future"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_whose_campaign_column_has_another_type_is_refused() {
    let temp = TempLake::new("lake-evolve-retyped");
    version_1_table(&temp.location, &records(0..10, None)).await;
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    table
        .add_columns()
        .with_fields([StructField::new("utm_source", DataType::LONG, true)])
        .await
        .expect("a retyped column");

    let error = EventsWriter::open_or_create(&temp.location, &WriterOptions::new("g"))
        .await
        .expect_err("the writer refuses the table");
    assert!(
        matches!(error.operation::<SchemaError>(), Some(SchemaError::Changed { column, .. }) if column == "utm_source"),
        "{error}"
    );
    let (version, _) = latest_history(&temp.location).await;
    assert_eq!(version, 2, "the writer committed nothing");
    let table = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let problems = verify(&table).await.expect("verify").problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("utm_source"), "{problems:?}");
}
