//! `rebuild`: replaces the warehouse's raw events in a range of hours by the lake's, and
//! recomputes every derived table for that range, in one PostgreSQL transaction. The lake is read
//! here; what is done to the warehouse, and why it is atomic, idempotent and safe beside a running
//! stream-processor, is [`lakehouse_warehouse::rebuild`].

use std::time::Instant;

use futures::TryStreamExt;
use lakehouse_lake::to_records;
use lakehouse_progress::Phase;
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

/// Rebuilds `range` of the warehouse behind `pool` from `lake`, showing its phases as progress
/// (the rows to read are counted first, so that the insert has a total).
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
    let phase = |what: &str, unit: &'static str, total: Option<u64>| {
        Phase::start(&format!("rebuild: {what}"), unit, total)
    };

    let counting = phase(&format!("counting the lake's rows in {range}"), "rows", None);
    let total = lake.rows(range).await?;
    counting.finish();

    let mut tx = pool.begin().await?;
    let waiting = phase(
        "waiting for the stream-processor's batch in flight",
        "batches",
        None,
    );
    hold_the_processors(&mut tx).await?;
    waiting.finish();

    let mut deleting = phase("deleting the range's events and derived rows", "events", None);
    let deleted = delete_range(&mut tx, range).await?;
    rebuilt.deleted_events = deleted.events;
    rebuilt.funnel_rows_recomputed = deleted.funnel_rows;
    deleting.add(deleted.events);
    deleting.finish();

    let mut inserting = phase(
        &format!("inserting the lake's rows (version {:?})", lake.version()),
        "rows",
        Some(total),
    );
    let mut batches = lake.events(range).await?;
    while let Some(batch) = batches.try_next().await? {
        let records = to_records(&batch)?;
        let rows: Vec<EventRow<'_>> = records
            .iter()
            .map(|record| EventRow {
                event: &record.event,
                partition: record.partition,
                offset: record.offset,
            })
            .collect();
        rebuilt.inserted_events += insert_range_events(&mut tx, &rows).await?;
        inserting.add(records.len() as u64);
    }
    inserting.finish();

    let deriving = phase("deriving the dashboards' tables", "tables", None);
    refill_range(&mut tx).await?;
    deriving.finish();
    let committing = phase("committing", "transactions", None);
    tx.commit().await?;
    committing.finish();
    rebuilt.seconds = started.elapsed().as_secs_f64();
    Ok(rebuilt)
}
