//! `rebuild`: replaces the warehouse's raw events in a range of hours by the lake's, and
//! recomputes every derived table for that range, in one PostgreSQL transaction. The lake is read
//! here, every table of it or one ([`LakeTables`]); what is done to the warehouse, and why it is
//! atomic, idempotent and safe beside a running stream-processor, is
//! [`lakehouse_warehouse::rebuild`].

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
use crate::lake_tables::{LakeTables, TableVersion, single_version};

/// What a rebuild did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rebuilt {
    pub range: String,
    /// The version read, when one table was read (`None` for several: see `tables`).
    pub lake_version: Option<u64>,
    /// Each table read, at its version.
    pub tables: Vec<TableVersion>,
    /// The warehouse's events replaced: every project's (`null`) or one project's.
    pub project_id: Option<String>,
    pub dry_run: bool,
    /// Raw events the warehouse held in the range before.
    pub deleted_events: u64,
    /// Distinct events the lake holds in the range (a dry run counts them without inserting).
    pub inserted_events: u64,
    /// Funnel progress rows recomputed from the raw events because their first step was in the range.
    pub funnel_rows_recomputed: u64,
    pub seconds: f64,
}

/// Rebuilds `range` of the warehouse behind `pool` from the tables of `lake`, showing its phases
/// as progress (the rows to read are counted first, over every table, so that the insert has a
/// total). Each table is read at the version it had when its rows were counted, so that the
/// insert reads what was counted.
pub async fn rebuild(pool: &PgPool, lake: &LakeTables, range: &HourRange, dry_run: bool) -> Result<Rebuilt> {
    let started = Instant::now();
    let share = lake.share();
    let mut rebuilt = Rebuilt {
        range: range.to_string(),
        lake_version: None,
        tables: Vec::new(),
        project_id: share.project_id().map(str::to_string),
        dry_run,
        deleted_events: 0,
        inserted_events: 0,
        funnel_rows_recomputed: 0,
        seconds: 0.0,
    };
    if dry_run {
        rebuilt.deleted_events = count_events(pool, range, share).await?;
        let (counts, read) = lake
            .counts(&format!("rebuild: counting the lake's events in {range}"), range)
            .await?;
        rebuilt.inserted_events = counts.total().unsigned_abs();
        rebuilt.lake_version = single_version(&read);
        rebuilt.tables = read;
        rebuilt.seconds = started.elapsed().as_secs_f64();
        return Ok(rebuilt);
    }
    let phase = |what: &str, unit: &'static str, total: Option<u64>| {
        Phase::start(&format!("rebuild: {what}"), unit, total)
    };

    let (total, read) = lake
        .rows(&format!("rebuild: counting the lake's rows in {range}"), range)
        .await?;
    rebuilt.lake_version = single_version(&read);

    let mut tx = pool.begin().await?;
    let waiting = phase(
        "waiting for the stream-processor's batch in flight",
        "batches",
        None,
    );
    hold_the_processors(&mut tx).await?;
    waiting.finish();

    let mut deleting = phase("deleting the range's events and derived rows", "events", None);
    let deleted = delete_range(&mut tx, range, share).await?;
    rebuilt.deleted_events = deleted.events;
    rebuilt.funnel_rows_recomputed = deleted.funnel_rows;
    deleting.add(deleted.events);
    deleting.finish();

    let what = match &read[..] {
        [one] => format!(
            "inserting the lake's rows ({} version {:?})",
            one.table, one.version
        ),
        many => format!("inserting the lake's rows ({} tables)", many.len()),
    };
    let mut inserting = phase(&what, "rows", Some(total));
    // One table after the other (see crate::lake_tables); an event_id the warehouse holds already,
    // from an earlier table or batch, is left out by the insert, so each event is stored once.
    for table in &read {
        let source = lake.open(table).await?;
        let mut batches = source.events(range).await?;
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
    }
    inserting.finish();
    rebuilt.tables = read;

    let deriving = phase("deriving the dashboards' tables", "tables", None);
    refill_range(&mut tx).await?;
    deriving.finish();
    let committing = phase("committing", "transactions", None);
    tx.commit().await?;
    committing.finish();
    rebuilt.seconds = started.elapsed().as_secs_f64();
    Ok(rebuilt)
}
