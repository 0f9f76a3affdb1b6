//! What the lake browser reads, on a real table with several versions (two appends, an
//! optimize, a restore): each version's statistics from the log, each commit's changes and
//! offsets, the diff of two versions by day and event type, and people's SQL read-only within
//! its row limit, timeout, memory limit and slots, and stopped at shutdown.

use std::collections::BTreeMap;
use std::time::Duration;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use lakehouse_lake::{
    AsOf, EventsWriter, OptimizeOptions, QueryExecutor, QueryOptions, QueryRefused, RestoreOptions,
    WriterOptions, diff, events_per_type, open_at, optimize, query, restore, table_stats, version_changes,
};
use lakehouse_testkit::wait_until;

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
    let newest = query(&second, "SELECT max(received_at) FROM events")
        .await
        .expect("the newest arrival");
    let newest = newest[0]
        .column(0)
        .as_primitive::<TimestampMicrosecondType>()
        .value(0);
    assert_eq!(
        stats.newest_received_at.map(|at| at.timestamp_micros()),
        Some(newest),
        "the statistics' newest arrival is the data's (whole milliseconds)"
    );
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

/// An executor with one slot, no timeout and `memory_limit_bytes` (`None`: the default).
fn executor(timeout: Option<Duration>, memory_limit_bytes: Option<usize>) -> QueryExecutor {
    let defaults = QueryOptions::default();
    QueryExecutor::new(QueryOptions {
        concurrency: 1,
        timeout,
        memory_limit_bytes: memory_limit_bytes.unwrap_or(defaults.memory_limit_bytes),
    })
    .expect("the query threads")
}

fn refusal(error: &lakehouse_lake::LakeError) -> Option<&QueryRefused> {
    error.operation::<QueryRefused>()
}

/// 3.4 * 10^6 rows to sum, a fraction of a second (a count alone would be answered from
/// statistics).
const CROSS: &str = "SELECT sum(length(a.event_id || b.event_id)) FROM events a, events b, events c";
/// 2.25 * 10^13 rows to sum, in little memory (the build side is `a` and `b`): it runs until
/// stopped.
const ENDLESS: &str =
    "SELECT sum(length(a.event_id || b.event_id)) FROM events a, events b, range(1000000000) c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peoples_sql_is_read_only_limited_and_stopped_in_time() {
    let temp = four_versions().await;
    let second = open_at(&temp.location, &TempLake::version(2))
        .await
        .expect("version 2");
    let unbounded = executor(None, None);

    let all = unbounded
        .run(&second, "SELECT * FROM events", None)
        .await
        .expect("a query");
    assert_eq!((all.rows, all.truncated), (150, false));
    let some = unbounded
        .run(&second, "SELECT event_id FROM events", Some(10))
        .await
        .expect("a query");
    assert_eq!((some.rows, some.truncated), (10, true));
    assert_eq!(some.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    assert_eq!(some.schema.fields().len(), 1);

    // Refused before anything runs: COPY writes no file.
    let target = temp.dir.join("copied.csv");
    let copy = format!("COPY (SELECT * FROM events) TO '{}'", target.display());
    let refused = unbounded
        .run(&second, &copy, None)
        .await
        .expect_err("COPY is refused");
    assert!(
        matches!(refusal(&refused), Some(QueryRefused::NotReadOnly(_))),
        "{refused}"
    );
    assert!(!target.exists(), "the refused COPY wrote {}", target.display());

    let hurried = executor(Some(Duration::from_millis(20)), None);
    let stopped = hurried.run(&second, ENDLESS, None).await.expect_err("too slow");
    assert_eq!(
        refusal(&stopped),
        Some(&QueryRefused::Timeout(Duration::from_millis(20)))
    );
    // The stopped query's task ends (the cross join yields between batches): its slot is free,
    // where it would run for hours otherwise.
    wait_until(
        "the stopped query's slot is free",
        Duration::from_secs(10),
        || async {
            match hurried.running() {
                0 => Ok(()),
                n => Err(format!("{n} running")),
            }
        },
    )
    .await;
    let answered = unbounded.run(&second, CROSS, None).await;
    assert_eq!(answered.expect("without a timeout it finishes").rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_beyond_its_slots_or_memory_is_refused_naming_the_limit() {
    let temp = four_versions().await;
    let second = open_at(&temp.location, &TempLake::version(2))
        .await
        .expect("version 2");
    // 3.4 * 10^6 rows of 108 bytes to sort: over 300 MiB.
    let sort =
        "SELECT a.event_id || b.event_id || c.event_id AS k FROM events a, events b, events c ORDER BY k";

    // Little memory: the sort spills at once, and outgrows its room on disk (as much again).
    let tiny = executor(None, Some(1 << 20));
    let refused = tiny.run(&second, sort, None).await.expect_err("over 1 MiB");
    assert_eq!(
        refusal(&refused),
        Some(&QueryRefused::MemoryLimit(1 << 20)),
        "{refused}"
    );
    assert!(refused.to_string().contains("memory limit of 1 MiB"), "{refused}");
    // More: the sort spills runs to disk, but merging them needs more memory than it may hold.
    let small = executor(None, Some(64 << 20));
    let refused = small.run(&second, sort, None).await.expect_err("over 64 MiB");
    assert_eq!(
        refusal(&refused),
        Some(&QueryRefused::MemoryLimit(64 << 20)),
        "{refused}"
    );
    // What fits is answered within the same limit.
    let fits = small
        .run(&second, "SELECT event_id FROM events ORDER BY event_id", None)
        .await
        .expect("150 rows fit");
    assert_eq!(fits.rows, 150);

    // One slot: a second query while the first runs is refused as busy.
    let one = executor(Some(Duration::from_secs(3)), None);
    let (first, second_query) = tokio::join!(one.run(&second, ENDLESS, None), async {
        wait_until("the first query runs", Duration::from_secs(10), || async {
            if one.running() == 1 {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        })
        .await;
        one.run(&second, "SELECT 1", None).await
    });
    assert_eq!(
        refusal(&first.expect_err("stopped")),
        Some(&QueryRefused::Timeout(Duration::from_secs(3)))
    );
    let busy = second_query.expect_err("no slot");
    assert_eq!(refusal(&busy), Some(&QueryRefused::Busy(1)));

    // Shut down: a running query is refused at once, and so is the next.
    let closing = executor(None, None);
    let (running, ()) = tokio::join!(closing.run(&second, ENDLESS, None), async {
        wait_until("the endless query runs", Duration::from_secs(10), || async {
            if closing.running() == 1 {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        })
        .await;
        closing.shutdown();
    });
    assert_eq!(
        refusal(&running.expect_err("stopped")),
        Some(&QueryRefused::ShuttingDown)
    );
    let after = closing.run(&second, "SELECT 1", None).await.expect_err("closed");
    assert_eq!(refusal(&after), Some(&QueryRefused::ShuttingDown));
}
