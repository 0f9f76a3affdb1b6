//! `rebuild`: replaces the warehouse's raw events in a range of hours by the lake's, and
//! recomputes every derived table for that range, in one PostgreSQL transaction.
//!
//! - Atomic: readers see the old range or the new one, never a mix; a failure changes nothing.
//! - Idempotent: the result depends only on the lake version and the warehouse outside the range.
//! - Serialised with the stream-processor: the transaction first takes `kafka_offsets` in
//!   EXCLUSIVE mode, which waits for a batch in flight and makes the next batch wait at its first
//!   statement (its `SELECT ... FOR UPDATE` on the offsets) until the rebuild commits. Plain
//!   reads of the offsets (lag monitoring) go on. The offsets themselves are never written, so
//!   they cannot move backwards; a batch that commits after the rebuild skips the events the
//!   rebuild inserted (by their `event_id`) and queues the others for the tables. What batches
//!   queued before is folded into the derived tables first, in the same transaction (after a fold
//!   in progress ends), so no queued event is lost with the deleted rows or counted twice.
//! - Derived rows: the range is whole hours, so every per-minute and per-hour bucket lies wholly
//!   inside or outside it; inside ones are deleted and refilled from the inserted events with the
//!   processor's own code: the lake's rows go into `events` by binary `COPY`
//!   ([`insert_events`]), staged as they go, and the derived tables are computed once from all of
//!   them at the end ([`DerivedTables::derive`]), so that each bucket is written once.
//! - Funnel progress is per session, and a session may cross the range's edges. Rows whose
//!   `first_at` lies in the range are deleted, and after the insert recomputed from all the
//!   warehouse's raw events of their (project, funnel, step, session), inside and outside the
//!   range; rows whose `first_at` lies outside are kept, and lowered by an earlier event from the
//!   lake. The result equals a recomputation from the raw events, as long as the warehouse still
//!   holds the session's events outside the range (raw-event retention).

use std::time::Instant;

use futures::TryStreamExt;
use lakehouse_lake::to_records;
use lakehouse_stream_processor::{DerivedTables, Stage, create_staging, fold_queue, insert_events};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::error::Result;
use crate::lake::LakeSource;
use crate::range::HourRange;

/// Tables bucketed by time that are refilled from the inserted events, with their bucket column.
const BUCKETED: [&str; 3] = [
    "event_rollups_minute",
    "event_dimensions_hourly",
    "unique_ids_hourly",
];

/// How long a rebuild or an erasure waits for the stream-processor's batch in flight before
/// giving up.
const LOCK_TIMEOUT: &str = "120s";

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
        rebuilt.deleted_events = sqlx::query_scalar::<_, i64>(
            r#"SELECT count(*) FROM events WHERE "timestamp" >= $1 AND "timestamp" < $2"#,
        )
        .bind(range.start)
        .bind(range.end)
        .fetch_one(pool)
        .await?
        .unsigned_abs();
        rebuilt.inserted_events = lake.counts(range).await?.total().unsigned_abs();
        rebuilt.seconds = started.elapsed().as_secs_f64();
        return Ok(rebuilt);
    }

    let mut tx = pool.begin().await?;
    progress(format_args!(
        "{range} from lake version {:?}: waiting for the stream-processor's batch in flight",
        lake.version()
    ));
    hold_the_processor(&mut tx).await?;

    rebuilt.deleted_events =
        sqlx::query(r#"DELETE FROM events WHERE "timestamp" >= $1 AND "timestamp" < $2"#)
            .bind(range.start)
            .bind(range.end)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    for table in BUCKETED {
        sqlx::query(&format!("DELETE FROM {table} WHERE bucket >= $1 AND bucket < $2"))
            .bind(range.start)
            .bind(range.end)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "CREATE TEMPORARY TABLE rebuild_funnel_keys (
             project_id text, funnel text, step integer, session_id text) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    rebuilt.funnel_rows_recomputed = sqlx::query(
        "WITH deleted AS (
             DELETE FROM funnel_progress WHERE first_at >= $1 AND first_at < $2
             RETURNING project_id, funnel, step, session_id)
         INSERT INTO rebuild_funnel_keys SELECT * FROM deleted",
    )
    .bind(range.start)
    .bind(range.end)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    progress(format_args!(
        "deleted {} raw events and the derived rows of the range; inserting the lake's",
        rebuilt.deleted_events
    ));

    create_staging(&mut tx).await?;
    let mut batches = lake.events(range).await?;
    let mut last_report = Instant::now();
    let mut read = 0usize;
    while let Some(batch) = batches.try_next().await? {
        let records = to_records(&batch)?;
        read += records.len();
        rebuilt.inserted_events +=
            insert_events(&mut tx, records.iter().collect(), Some(Stage::Session)).await?;
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
    DerivedTables::default().derive(&mut tx).await?;
    refill_funnel_progress(&mut tx, "rebuild_funnel_keys").await?;
    progress(format_args!("committing"));
    tx.commit().await?;
    rebuilt.seconds = started.elapsed().as_secs_f64();
    progress(format_args!("done in {:.1} s", rebuilt.seconds));
    Ok(rebuilt)
}

/// Waits (up to [`LOCK_TIMEOUT`]) for the stream-processor's batch in flight and holds its next
/// one until `tx` ends: the exclusive lock on `kafka_offsets`, which every batch updates; then
/// folds the events the batches queued for the derived tables. Used by the rebuild and by
/// erase-user.
pub(crate) async fn hold_the_processor(tx: &mut PgConnection) -> Result<()> {
    sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    sqlx::query("LOCK TABLE kafka_offsets IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL lock_timeout = 0")
        .execute(&mut *tx)
        .await?;
    // What the processor's batches queued goes into the derived tables before anything derived
    // is deleted or recomputed, so that it is neither counted twice nor lost.
    fold_queue(tx).await?;
    Ok(())
}

/// Recomputes the `funnel_progress` rows whose keys (`project_id, funnel, step, session_id`) the
/// temporary table `keys` holds, from the events there are now. Used by the rebuild and by
/// erase-user.
pub(crate) async fn refill_funnel_progress(tx: &mut PgConnection, keys: &str) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO funnel_progress AS f (project_id, funnel, step, session_id, first_at)
         SELECT e.project_id, k.funnel, k.step, e.session_id, min(e.\"timestamp\")
         FROM {keys} k
         JOIN events e ON e.project_id = k.project_id AND e.session_id = k.session_id
          AND e.event_type = 'funnel_step' AND e.properties->>'funnel' = k.funnel
          AND lakehouse_funnel_step(e.properties) = k.step
         GROUP BY 1, 2, 3, 4
         ON CONFLICT (project_id, funnel, step, session_id) DO UPDATE
         SET first_at = least(f.first_at, EXCLUDED.first_at)"
    ))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
