//! What the lake browser reads, on a real table with several versions (two appends, an
//! optimize, a restore): each version's statistics from the log, each commit's changes and
//! offsets, the diff of two versions by day and event type, and people's SQL read-only within
//! its row limit and timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use lakehouse_lake::{
    AsOf, EventsWriter, OptimizeOptions, QueryLimits, QueryRefused, RestoreOptions, WriterOptions, diff,
    events_per_type, open_at, optimize, query, read_only_query, restore, table_stats, version_changes,
};

use crate::{TempLake, batch};

/// Version 3: optimize's compaction claim; 5: its release (DESIGN.md §8.5).
const OPTIMIZED: u64 = 4;
const RESTORED: u64 = 6;

/// Versions: 1 and 2 append 100 and 50 rows, 4 optimizes (3 and 5 are its compaction claim
/// taken and released), 6 restores version 1.
async fn four_versions() -> TempLake {
    let temp = TempLake::new("lake-browsing");
    let mut writer: EventsWriter = temp.writer(&WriterOptions::new("g")).await;
    writer.write(&batch(5, 0, 100)).await.expect("version 1");
    writer.write(&batch(5, 100, 50)).await.expect("version 2");
    let latest = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    optimize(latest, &OptimizeOptions::default())
        .await
        .expect("version 4");
    let latest = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let first = open_at(&temp.location, &TempLake::version(1))
        .await
        .expect("version 1");
    restore(latest, &first, &RestoreOptions::default())
        .await
        .expect("version 6");
    temp
}

/// `(event_date, event_type) → rows` of a version, counted from its data.
async fn counted(temp: &TempLake, version: u64) -> BTreeMap<(String, String), i64> {
    let table = open_at(&temp.location, &TempLake::version(version))
        .await
        .expect("a version");
    let batches = query(
        &table,
        "SELECT CAST(event_date AS VARCHAR), CAST(event_type AS VARCHAR), count(*) FROM events GROUP BY 1, 2",
    )
    .await
    .expect("counts");
    let mut counts = BTreeMap::new();
    for batch in batches {
        let dates = cast(batch.column(0), &DataType::Utf8).expect("text");
        let types = cast(batch.column(1), &DataType::Utf8).expect("text");
        let n = batch.column(2).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            counts.insert(
                (
                    dates.as_string::<i32>().value(row).to_string(),
                    types.as_string::<i32>().value(row).to_string(),
                ),
                n.value(row),
            );
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_changes_and_diffs_of_versions() {
    let temp = four_versions().await;

    // Statistics from the log agree with the data.
    let second = open_at(&temp.location, &TempLake::version(2))
        .await
        .expect("version 2");
    let stats = table_stats(&second).await.expect("stats");
    assert_eq!(
        (stats.version, stats.rows, stats.files_without_row_count),
        (2, 150, 0)
    );
    assert_eq!(
        stats.files,
        stats.partitions.iter().map(|p| p.files).sum::<usize>()
    );
    assert!(stats.files >= 2 && stats.small_files == stats.files, "{stats:?}");
    assert_eq!(stats.partition_columns, ["event_date"]);
    assert_eq!(
        stats.schema.len(),
        32,
        "contract version 2: 27 columns and 5 campaign ones"
    );
    let mut per_day: BTreeMap<String, i64> = BTreeMap::new();
    for ((day, _), n) in counted(&temp, 2).await {
        *per_day.entry(day).or_default() += n;
    }
    let from_log: BTreeMap<String, i64> = stats
        .partitions
        .iter()
        .map(|p| (p.event_date.clone(), p.rows as i64))
        .collect();
    assert_eq!(from_log, per_day);
    let types = events_per_type(&second).await.expect("types");
    assert_eq!(types.iter().map(|(_, n)| n).sum::<u64>(), 150);
    assert!(
        types.windows(2).all(|w| w[0].1 >= w[1].1),
        "most frequent first: {types:?}"
    );

    // Each commit's changes and offsets.
    let latest = open_at(&temp.location, &AsOf::default())
        .await
        .expect("the table");
    let changes = version_changes(&latest, RESTORED, 10).await.expect("changes");
    let versions: Vec<u64> = changes.iter().map(|c| c.version).collect();
    assert_eq!(versions, [6, 5, 4, 3, 2, 1, 0]);
    let [
        restored,
        released,
        optimized,
        claimed,
        second_write,
        first_write,
        created,
    ] = &changes[..]
    else {
        panic!("{changes:?}");
    };
    for claim in [claimed, released] {
        assert_eq!((claim.rows_added, claim.rows_removed), (0, Some(0)), "{claim:?}");
    }
    assert_eq!(created.operation, "CREATE TABLE");
    assert_eq!((first_write.rows_added, first_write.rows_removed), (100, Some(0)));
    assert_eq!(first_write.offsets, BTreeMap::from([("g-t-0".to_string(), 99)]));
    assert_eq!(second_write.offsets, BTreeMap::from([("g-t-0".to_string(), 149)]));
    assert!(first_write.data_change && first_write.timestamp.is_some());
    assert_eq!(optimized.operation, "OPTIMIZE");
    assert!(!optimized.data_change, "compaction changes no data");
    assert!(optimized.rows_added > 0, "{optimized:?}");
    assert_eq!(optimized.rows_removed, Some(optimized.rows_added));
    assert_eq!(restored.operation, "RESTORE");
    // The restore takes the second append's 50 rows away, whatever files it swaps.
    assert_eq!(restored.rows_removed, Some(restored.rows_added + 50));
    // A page that starts at the optimize still counts the rows it removed (added before it).
    let page = version_changes(&latest, OPTIMIZED, 2).await.expect("a page");
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].rows_removed, Some(optimized.rows_added));

    // Diffs: an append adds rows, a compaction changes none, the restore removes the second
    // append, each by day and event type as the data says.
    let v1 = open_at(&temp.location, &TempLake::version(1)).await.expect("v1");
    let v4 = open_at(&temp.location, &TempLake::version(OPTIMIZED))
        .await
        .expect("the optimized");
    let (v2, v6) = (second, latest);
    let appended = diff(&v1, &v2).await.expect("diff 1 → 2");
    assert_eq!((appended.rows_added(), appended.rows_removed()), (50, 0));
    let (before, after) = (counted(&temp, 1).await, counted(&temp, 2).await);
    for row in &appended.rows {
        let key = (row.event_date.clone(), row.event_type.clone());
        let expected = after[&key] - before.get(&key).copied().unwrap_or(0);
        assert_eq!(row.added as i64, expected, "{row:?}");
    }
    let compacted = diff(&v2, &v4).await.expect("diff 2 → 4");
    assert!(compacted.files_added > 0 && compacted.files_removed > 0);
    assert!(compacted.rows.is_empty(), "{compacted:?}");
    let undone = diff(&v4, &v6).await.expect("diff 4 → 6");
    assert_eq!((undone.rows_added(), undone.rows_removed()), (0, 50));
    let backwards = diff(&v6, &v2).await.expect("diff 6 → 2");
    assert_eq!((backwards.rows_added(), backwards.rows_removed()), (50, 0));
    assert!(diff(&v2, &v2).await.expect("no change").rows.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peoples_sql_is_read_only_limited_and_stopped_in_time() {
    let temp = four_versions().await;
    let second = open_at(&temp.location, &TempLake::version(2))
        .await
        .expect("version 2");

    let all = read_only_query(&second, "SELECT * FROM events", QueryLimits::default())
        .await
        .expect("a query");
    assert_eq!((all.rows, all.truncated), (150, false));
    let limited = QueryLimits {
        max_rows: Some(10),
        timeout: None,
    };
    let some = read_only_query(&second, "SELECT event_id FROM events", limited)
        .await
        .expect("a query");
    assert_eq!((some.rows, some.truncated), (10, true));
    assert_eq!(some.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    assert_eq!(some.schema.fields().len(), 1);

    // Refused before anything runs: COPY writes no file.
    let target = temp.dir.join("copied.csv");
    let copy = format!("COPY (SELECT * FROM events) TO '{}'", target.display());
    let refused = read_only_query(&second, &copy, QueryLimits::default())
        .await
        .expect_err("COPY is refused");
    assert!(
        matches!(
            refused.operation::<QueryRefused>(),
            Some(QueryRefused::NotReadOnly(_))
        ),
        "{refused}"
    );
    assert!(!target.exists(), "the refused COPY wrote {}", target.display());

    let slow = QueryLimits {
        max_rows: None,
        timeout: Some(Duration::from_millis(20)),
    };
    // 3.4 * 10^6 rows to sum, a fraction of a second (a count alone would be answered from
    // statistics).
    let cross = "SELECT sum(length(a.event_id || b.event_id)) FROM events a, events b, events c";
    let stopped = read_only_query(&second, cross, slow).await.expect_err("too slow");
    assert_eq!(
        stopped.operation::<QueryRefused>(),
        Some(&QueryRefused::Timeout(Duration::from_millis(20)))
    );
    let unbounded = read_only_query(&second, cross, QueryLimits::default()).await;
    assert_eq!(unbounded.expect("without a timeout it finishes").rows, 1);
}
