//! `rebuild`: replaces the warehouse's raw events in a range of hours by the lake's, and
//! recomputes every derived table for that range, in one PostgreSQL transaction. The lake is read
//! here; what is done to the warehouse, and why it is atomic, idempotent and safe beside a running
//! stream-processor, is [`lakehouse_warehouse::rebuild`].

use std::time::Instant;

use futures::TryStreamExt;
use lakehouse_lake::to_records;
use lakehouse_warehouse::EventRow;
use lakehouse_warehouse::range::HourRange;
use lakehouse_warehouse::rebuild::{
    count_events, delete_range, hold_the_processors, insert_range_events, refill_range,
};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::Result;
use crate::lake::LakeSource;

/// What a rebuild did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rebuilt {
    pub range: String,
    pub lake_version: Option<u64>,
    pub dry_run: bool,
    /// Raw events the warehouse held in the range before.
    pub deleted_events: u64,
    /// Distinct events the lake holds in the range (a dry run counts them without inserting).
    pub inserted_events: u64,
    /// Funnel progress rows recomputed from the raw events because their first step was in the range.
    pub funnel_rows_recomputed: u64,
    pub seconds: f64,
}

/// Progress lines on stderr for whoever runs the command.
#[expect(clippy::print_stderr, reason = "progress for the operator goes to stderr")]
fn progress(message: std::fmt::Arguments<'_>) {
    eprintln!("rebuild: {message}");
}

/// Rebuilds `range` of the warehouse behind `pool` from `lake`.
pub async fn rebuild(pool: &PgPool, lake: &LakeSource, range: &HourRange, dry_run: bool) -> Result<Rebuilt> {
    let started = Instant::now();
    let mut rebuilt = Rebuilt {
        range: range.to_string(),
        lake_version: lake.version(),
        dry_run,
        deleted_events: 0,
        inserted_events: 0,
        funnel_rows_recomputed: 0,
        seconds: 0.0,
    };
    if dry_run {
        rebuilt.deleted_events = count_events(pool, range).await?;
        rebuilt.inserted_events = lake.counts(range).await?.total().unsigned_abs();
        rebuilt.seconds = started.elapsed().as_secs_f64();
        return Ok(rebuilt);
    }

    let mut tx = pool.begin().await?;
    progress(format_args!(
        "{range} from lake version {:?}: waiting for the stream-processor's batch in flight",
        lake.version()
    ));
    hold_the_processors(&mut tx).await?;

    let deleted = delete_range(&mut tx, range).await?;
    rebuilt.deleted_events = deleted.events;
    rebuilt.funnel_rows_recomputed = deleted.funnel_rows;
    progress(format_args!(
        "deleted {} raw events and the derived rows of the range; inserting the lake's",
        rebuilt.deleted_events
    ));

    let mut batches = lake.events(range).await?;
    let mut last_report = Instant::now();
    let mut read = 0usize;
    while let Some(batch) = batches.try_next().await? {
        let records = to_records(&batch)?;
        read += records.len();
        let rows: Vec<EventRow<'_>> = records
            .iter()
            .map(|record| EventRow {
                event: &record.event,
                partition: record.partition,
                offset: record.offset,
            })
            .collect();
        rebuilt.inserted_events += insert_range_events(&mut tx, &rows).await?;
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            progress(format_args!(
                "{read} lake rows read, {} events inserted ({:.0} s)",
                rebuilt.inserted_events,
                started.elapsed().as_secs_f64()
            ));
        }
    }

    progress(format_args!(
        "{read} lake rows read, {} events inserted; deriving the dashboards' tables",
        rebuilt.inserted_events
    ));
    refill_range(&mut tx).await?;
    progress(format_args!("committing"));
    tx.commit().await?;
    rebuilt.seconds = started.elapsed().as_secs_f64();
    progress(format_args!("done in {:.1} s", rebuilt.seconds));
    Ok(rebuilt)
}
