//! The warehouse's side of a rebuild: replaces the raw events in a range of hours by others (the
//! lake's, which the caller reads), and recomputes every derived table for that range, in one
//! PostgreSQL transaction the caller begins and commits. The events replaced are a [`Share`]:
//! every project's, or one project's (what one project's lake table holds), whose rows in the
//! derived tables are its own, keyed by `project_id`, so the other projects' stay untouched.
//!
//! - Atomic: readers see the old range or the new one, never a mix; a failure changes nothing.
//! - Idempotent: the result depends only on the events inserted and the warehouse outside the
//!   range.
//! - Serialised with the stream-processor ([`hold_the_processors`]): the transaction first takes
//!   `kafka_offsets` in EXCLUSIVE mode, which waits for a batch in flight and makes the next batch
//!   wait at its first statement (its `SELECT ... FOR UPDATE` on the offsets) until the rebuild
//!   commits. Plain reads of the offsets (lag monitoring) go on. The offsets themselves are never
//!   written, so they cannot move backwards; a batch that commits after the rebuild skips the
//!   events the rebuild inserted (by their `event_id`) and queues the others for the tables. What
//!   batches queued before is folded into the derived tables first, in the same transaction
//!   (after a fold in progress ends), so no queued event is lost with the deleted rows or counted
//!   twice.
//! - Derived rows: the range is whole hours, so every per-minute and per-hour bucket lies wholly
//!   inside or outside it; inside ones are deleted ([`delete_range`]) and refilled from the
//!   inserted events with the processor's own code: the events go into `events` by binary `COPY`
//!   ([`insert_range_events`]), staged as they go, and the derived tables are computed once from
//!   all of them at the end ([`refill_range`]), so that each bucket is written once.
//! - Funnel progress is per session, and a session may cross the range's edges. Rows whose
//!   `first_at` lies in the range are deleted, and after the insert recomputed from all the
//!   warehouse's raw events of their (project, funnel, step, session), inside and outside the
//!   range; rows whose `first_at` lies outside are kept, and lowered by an earlier inserted
//!   event. The result equals a recomputation from the raw events, as long as the warehouse still
//!   holds the session's events outside the range (raw-event retention).

use sqlx::{PgConnection, PgPool};

use crate::derived::{DerivedTable, DerivedTables};
use crate::fold::fold_queue;
use crate::load::{Stage, create_staging, insert_events};
use crate::range::HourRange;
use crate::row::EventRow;
use crate::share::Share;

/// How long a rebuild or an erasure waits for the stream-processor's batch in flight before
/// giving up.
const LOCK_TIMEOUT: &str = "120s";

/// The temporary table of the funnel rows a rebuild deleted, to recompute.
const FUNNEL_KEYS: &str = "rebuild_funnel_keys";

/// What [`delete_range`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeDeleted {
    /// Raw events.
    pub events: u64,
    /// Funnel progress rows whose first step was in the range, recomputed by [`refill_range`].
    pub funnel_rows: u64,
}

/// The raw events of `share` the warehouse holds in `range` (a dry run's count of what would be
/// deleted).
pub async fn count_events(pool: &PgPool, range: &HourRange, share: &Share) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(&format!(
        r#"SELECT count(*) FROM events WHERE "timestamp" >= $1 AND "timestamp" < $2 AND {}"#,
        Share::condition(3)
    ))
    .bind(range.start)
    .bind(range.end)
    .bind(share.project_id())
    .fetch_one(pool)
    .await?;
    Ok(count.unsigned_abs())
}

/// Waits (up to [`LOCK_TIMEOUT`]) for the stream-processor's batch in flight and holds its next
/// one until `tx` ends: the exclusive lock on `kafka_offsets`, which every batch updates; then
/// folds the events the batches queued for the derived tables. The rebuild and the erasure start
/// with it.
pub async fn hold_the_processors(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
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

/// Deletes the raw events of `share` in `range`, its rows in the buckets of every bucketed derived
/// table in it, and its funnel rows first reached in it (kept aside for [`refill_range`]); then
/// makes the session's stage ready for [`insert_range_events`]. In the transaction
/// [`hold_the_processors`] began.
pub async fn delete_range(
    tx: &mut PgConnection,
    range: &HourRange,
    share: &Share,
) -> Result<RangeDeleted, sqlx::Error> {
    let of_share = Share::condition(3);
    let events = sqlx::query(&format!(
        r#"DELETE FROM events WHERE "timestamp" >= $1 AND "timestamp" < $2 AND {of_share}"#
    ))
    .bind(range.start)
    .bind(range.end)
    .bind(share.project_id())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    for (table, _) in DerivedTable::bucketed() {
        sqlx::query(&format!(
            "DELETE FROM {} WHERE bucket >= $1 AND bucket < $2 AND {of_share}",
            table.name()
        ))
        .bind(range.start)
        .bind(range.end)
        .bind(share.project_id())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(&format!(
        "CREATE TEMPORARY TABLE {FUNNEL_KEYS} (
             project_id text, funnel text, step integer, session_id text) ON COMMIT DROP"
    ))
    .execute(&mut *tx)
    .await?;
    let funnel_rows = sqlx::query(&format!(
        "WITH deleted AS (
             DELETE FROM funnel_progress WHERE first_at >= $1 AND first_at < $2 AND {of_share}
             RETURNING project_id, funnel, step, session_id)
         INSERT INTO {FUNNEL_KEYS} SELECT * FROM deleted"
    ))
    .bind(range.start)
    .bind(range.end)
    .bind(share.project_id())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    create_staging(tx).await?;
    Ok(RangeDeleted { events, funnel_rows })
}

/// Inserts the events of `rows` not stored yet, staged for [`refill_range`]; returns how many
/// were new. Called as often as the caller has rows, after [`delete_range`].
pub async fn insert_range_events(tx: &mut PgConnection, rows: &[EventRow<'_>]) -> Result<u64, sqlx::Error> {
    insert_events(tx, rows.to_vec(), Some(Stage::Session)).await
}

/// Derives every derived table from the events inserted since [`delete_range`], and recomputes
/// the funnel rows it deleted; the caller commits then.
pub async fn refill_range(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    DerivedTables::default().derive(tx).await?;
    refill_funnel_progress(tx, FUNNEL_KEYS).await
}

/// Recomputes the `funnel_progress` rows whose keys (`project_id, funnel, step, session_id`) the
/// temporary table `keys` holds, from the events there are now. Used by the rebuild and by the
/// erasure.
pub(crate) async fn refill_funnel_progress(tx: &mut PgConnection, keys: &str) -> Result<(), sqlx::Error> {
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
