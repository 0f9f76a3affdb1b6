//! A user's rows in the warehouse, for the GDPR: [`erase_user`] removes them (raw events and
//! what the dashboards derived from them); [`user_events`] reads them.
//!
//! The erasure runs in one transaction, serialised with the stream-processor as a rebuild is
//! ([`hold_the_processors`]). The derived tables are not patched by subtraction: every hour that
//! held one of the user's events is taken out whole — its raw events set aside, its minute and
//! hour buckets deleted — and its remaining events are inserted again through the processor's own
//! batch SQL, so that those hours equal a recomputation from the raw events by construction.
//! Funnel rows of the user's sessions are recomputed from the sessions' remaining events, inside
//! and outside those hours. The events put back keep every column but `ingested_at`, which
//! becomes the time of the erasure.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::derived::{Bucket, DerivedTable};
use crate::load::insert_new_events;
use crate::rebuild::{hold_the_processors, refill_funnel_progress};
use crate::row::{EVENT_COLUMNS, StoredEvent, StoredRow, column_list};
use crate::warehouse::WarehouseError;

/// Events put back per statement.
const CHUNK: usize = 5_000;

/// A user's rows: all of a `user_id`'s, or only those in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRows<'a> {
    pub user_id: &'a str,
    pub project_id: Option<&'a str>,
}

/// What the erasure did in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarehouseErased {
    pub dry_run: bool,
    /// The user's raw events removed (or, in a dry run, found).
    pub events: u64,
    /// The hours whose derived rows were recomputed.
    pub hours: Vec<DateTime<Utc>>,
    /// Other events of those hours, put back through the batch SQL.
    pub events_recomputed: u64,
    /// Funnel rows of the user's sessions recomputed from their remaining events.
    pub funnel_rows_recomputed: u64,
}

/// `user_id = $1 AND ($2 IS NULL OR project_id = $2)`, the rows of [`UserRows`].
const USER_ROWS: &str = "user_id = $1 AND ($2::text IS NULL OR project_id = $2)";

/// Removes the user's rows from the warehouse, in one transaction (a dry run only counts them).
pub async fn erase_user(
    pool: &PgPool,
    user: UserRows<'_>,
    dry_run: bool,
) -> Result<WarehouseErased, WarehouseError> {
    let mut tx = pool.begin().await?;
    hold_the_processors(&mut tx).await?;

    let (events, hours): (i64, Vec<DateTime<Utc>>) = sqlx::query_as(&format!(
        r#"SELECT count(*), coalesce(array_agg(DISTINCT date_trunc('hour', "timestamp")), '{{}}')
           FROM events WHERE {USER_ROWS}"#
    ))
    .bind(user.user_id)
    .bind(user.project_id)
    .fetch_one(&mut *tx)
    .await?;
    let mut erased = WarehouseErased {
        dry_run,
        events: events.unsigned_abs(),
        hours,
        events_recomputed: 0,
        funnel_rows_recomputed: 0,
    };
    if dry_run || events == 0 {
        return Ok(erased);
    }

    // The funnel rows of the user's sessions, to recompute from what remains of them.
    sqlx::query(
        "CREATE TEMPORARY TABLE erase_funnel_keys (
             project_id text, funnel text, step integer, session_id text) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    erased.funnel_rows_recomputed = sqlx::query(&format!(
        "WITH sessions AS (SELECT DISTINCT project_id, session_id FROM events WHERE {USER_ROWS}),
              deleted AS (
                  DELETE FROM funnel_progress f USING sessions s
                  WHERE f.project_id = s.project_id AND f.session_id = s.session_id
                  RETURNING f.project_id, f.funnel, f.step, f.session_id)
         INSERT INTO erase_funnel_keys SELECT * FROM deleted"
    ))
    .bind(user.user_id)
    .bind(user.project_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    sqlx::query(&format!("DELETE FROM events WHERE {USER_ROWS}"))
        .bind(user.user_id)
        .bind(user.project_id)
        .execute(&mut *tx)
        .await?;
    // The affected hours, whole: their other events set aside, their buckets emptied.
    let kept: Vec<StoredRow> = sqlx::query_as(&format!(
        r#"DELETE FROM events WHERE date_trunc('hour', "timestamp") = ANY($1) RETURNING {}"#,
        column_list(&EVENT_COLUMNS)
    ))
    .bind(&erased.hours)
    .fetch_all(&mut *tx)
    .await?;
    for (table, bucket) in DerivedTable::bucketed() {
        let bucket_hour = match bucket {
            Bucket::Minute => "date_trunc('hour', bucket)",
            Bucket::Hour => "bucket",
        };
        sqlx::query(&format!(
            "DELETE FROM {} WHERE {bucket_hour} = ANY($1)",
            table.name()
        ))
        .bind(&erased.hours)
        .execute(&mut *tx)
        .await?;
    }
    let events = kept
        .into_iter()
        .map(StoredEvent::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let rows: Vec<_> = events.iter().map(StoredEvent::row).collect();
    for chunk in rows.chunks(CHUNK) {
        erased.events_recomputed += insert_new_events(&mut tx, chunk).await?;
    }
    refill_funnel_progress(&mut tx, "erase_funnel_keys").await?;
    tx.commit().await?;
    Ok(erased)
}

/// The user's raw events, each as a JSON object without `ingested_at`, oldest first.
pub async fn user_events(pool: &PgPool, user: UserRows<'_>) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        r#"SELECT to_jsonb(e) - 'ingested_at' FROM events e WHERE {USER_ROWS} ORDER BY "timestamp", event_id"#
    ))
    .bind(user.user_id)
    .bind(user.project_id)
    .fetch_all(pool)
    .await
}
