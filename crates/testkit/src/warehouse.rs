//! What a test's warehouse database holds: its rows, the offsets stored with them, and waiting
//! until the rows are there. SQL only, so that the stream-processor's own tests can use it.

use std::time::Duration;

use sqlx::PgPool;

use crate::oracle::{derived_mismatches, empty_derived_tables};
use crate::wait_until;

/// How long a test waits for the warehouse to reach the expected state.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Rows in `events`, distinct `event_id`s among them, and the sum of the stored next offsets
/// (for a fresh topic: how many messages the stored offsets cover).
pub async fn rows_and_offsets(pool: &PgPool) -> Result<(i64, i64, i64), String> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT event_id) FROM events),
                (SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offsets)",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())
}

/// Waits until `events` holds `expected` rows, each `event_id` once.
pub async fn wait_for_rows(pool: &PgPool, expected: i64) {
    wait_until(&format!("{expected} rows, each once"), PATIENCE, || async {
        match rows_and_offsets(pool).await? {
            (rows, distinct, _) if rows == expected && distinct == expected => Ok(()),
            (rows, distinct, _) => Err(format!("{rows} rows, {distinct} distinct")),
        }
    })
    .await;
}

/// The sum of the stored next offsets.
pub async fn stored_offsets(pool: &PgPool) -> i64 {
    rows_and_offsets(pool).await.expect("stored offsets").2
}

/// The sum of the stored next offsets; 0 before a processor created the schema.
pub async fn stored_offsets_so_far(pool: &PgPool) -> i64 {
    rows_and_offsets(pool).await.map_or(0, |(_, _, offsets)| offsets)
}

/// Waits until `events` holds `expected` rows, each once, and the stored offsets cover `expected`
/// messages (a fresh topic with nothing else in it).
pub async fn wait_for_rows_and_offsets(pool: &PgPool, expected: i64) {
    wait_until(&format!("{expected} events once each"), PATIENCE, || async {
        match rows_and_offsets(pool).await? {
            (rows, distinct, offsets) if rows == expected && distinct == expected && offsets == expected => {
                Ok(())
            }
            counts => Err(format!("(rows, distinct, stored offsets) = {counts:?}")),
        }
    })
    .await;
}

/// Waits up to `patience` until `events` holds `total` rows, each `event_id` once, and the stored
/// offsets cover `total` messages (`what` names the situation in the failure); then asserts that
/// every derived table is filled and equals its recomputation from the raw events.
pub async fn assert_exactly_once(pool: &PgPool, total: i64, what: &str, patience: Duration) {
    wait_until(what, patience, || async {
        match rows_and_offsets(pool).await? {
            (rows, distinct, offsets) if rows == total && distinct == total && offsets == total => Ok(()),
            counts => Err(format!("(rows, distinct, stored offsets) = {counts:?}")),
        }
    })
    .await;
    assert_eq!(empty_derived_tables(pool).await, Vec::<&str>::new());
    assert_eq!(
        derived_mismatches(pool).await,
        vec![],
        "rollups, breakdowns, unique ids and funnels equal a recomputation from the raw events"
    );
}
