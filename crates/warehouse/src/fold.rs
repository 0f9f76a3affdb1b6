//! The fold: adds the events the batches queued in `events_to_derive` to the derived tables and
//! deletes them from the queue, in one transaction, a few at a time (DESIGN.md §7).
//!
//! A batch's transaction queues what it inserted and updates no derived row: transactions that
//! add to the same counter rows wait for each other's commits, so batches that updated them
//! would be written one after another and leave PostgreSQL's second core idle. One fold at a
//! time adds many batches' worth to each row at once, beside the batches' `COPY`s. Exactly once
//! holds because a queued row is derived and deleted by the same transaction: a fold that fails
//! leaves the queue as it was, for the next one.
//!
//! One fold runs at a time in the whole warehouse (a transaction-scoped advisory lock): the
//! processor's replicas each run the loop, and a rebuild or an erasure folds what is queued
//! before it recomputes anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lakehouse_telemetry::metrics::{
    WAREHOUSE_DERIVE_QUEUE_EVENTS, WAREHOUSE_FOLD_SECONDS, WAREHOUSE_FOLDED_EVENTS_TOTAL,
    WAREHOUSE_FOLDS_TOTAL,
};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::derived::DerivedTables;
use crate::load::{QUEUE, create_staging, staged_column_list};

/// The most queued events one fold transaction takes: bounds the transaction after a long
/// backlog (its stage is a temporary table, so PostgreSQL's memory is not what it bounds).
pub const FOLD_MAX_EVENTS: i64 = 100_000;

/// How often the loop looks at the queue when no batch of its own woke it: events another
/// replica queued while its fold could not run, or that a crash left.
const FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// The longest wait before retrying a fold that failed (the wait doubles from [`FOLD_INTERVAL`]).
const FOLD_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Derives the dashboards' rows from up to `limit` queued events (every queued one for `None`) and
/// deletes them from the queue, in the caller's transaction; returns how many it took. Waits for
/// a fold of another session to end first. The session's staging table must exist
/// ([`create_staging`]).
pub async fn fold(
    conn: &mut PgConnection,
    derived: &DerivedTables,
    limit: Option<i64>,
) -> Result<u64, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('lakehouse.fold'))")
        .execute(&mut *conn)
        .await?;
    let columns = staged_column_list();
    let taken = match limit {
        Some(limit) => format!("WHERE ctid = ANY(ARRAY(SELECT ctid FROM {QUEUE} LIMIT {limit}))"),
        None => String::new(),
    };
    let moved = sqlx::query(&format!(
        "WITH taken AS (DELETE FROM {QUEUE} {taken} RETURNING {columns})
         INSERT INTO lakehouse_new_events ({columns}) SELECT {columns} FROM taken"
    ))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved > 0 {
        derived.derive(conn).await?;
    }
    Ok(moved)
}

/// Folds every queued event into every derived table, in the caller's transaction, on a
/// connection of any session: a rebuild or an erasure calls it once it holds the processors
/// back, before it deletes or recomputes derived rows.
pub async fn fold_queue(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    create_staging(conn).await?;
    fold(conn, &DerivedTables::default(), None).await
}

/// The processor's fold loop: folds whenever a batch queued events (`wake`) and every
/// [`FOLD_INTERVAL`], until `shutdown`; then folds what is left once more, so that a processor
/// that stops (`--until-caught-up`, a deploy) leaves the derived tables current.
#[derive(Debug, Clone)]
pub struct FoldLoop {
    pub pool: PgPool,
    pub derived: DerivedTables,
    pub wake: Arc<Notify>,
}

impl FoldLoop {
    /// Runs until `shutdown`. Each round is counted by outcome (`lakehouse_warehouse_folds_total`,
    /// every outcome from zero), which the `LakehouseDerivedTablesBehind` alert reads.
    /// It starts at its first wake, which the warehouse's migration sends (the queue exists from
    /// then on, and the metrics recorder too); events a crash left queued are folded then.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.derived.is_empty() {
            // Nothing is queued when no derived table is maintained.
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = self.wake.notified() => {}
        }
        let round = |outcome: &'static str| metrics::counter!(WAREHOUSE_FOLDS_TOTAL, "outcome" => outcome);
        for outcome in ["applied", "failed"] {
            round(outcome).absolute(0);
        }
        let mut backoff: Option<Duration> = None;
        loop {
            let result = self.fold_all().await;
            round(if result.is_ok() { "applied" } else { "failed" }).increment(1);
            self.report_queue().await;
            match result {
                Ok(_) => backoff = None,
                Err(error) => {
                    let wait = backoff.map_or(FOLD_INTERVAL, |wait| (wait * 2).min(FOLD_MAX_BACKOFF));
                    tracing::warn!(%error, retry_in_s = wait.as_secs(),
                        "folding the queued events into the derived tables failed; they stay queued, retrying");
                    backoff = Some(wait);
                }
            }
            match backoff {
                // A failed fold waits its backoff out: a committed batch does not cut it short.
                Some(wait) => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                },
                None => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(FOLD_INTERVAL) => {}
                },
            }
        }
        match self.fold_all().await {
            Ok(folded) => tracing::debug!(folded, "queued events folded before stopping"),
            Err(error) => tracing::warn!(%error,
                "could not fold the queued events before stopping; the next processor to start folds them"),
        }
    }

    /// Sets [`WAREHOUSE_DERIVE_QUEUE_EVENTS`] to what is queued now (what batches queued while
    /// the fold ran); left as it was when the database cannot be asked.
    async fn report_queue(&self) {
        match sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {QUEUE}"))
            .fetch_one(&self.pool)
            .await
        {
            Ok(queued) => metrics::gauge!(WAREHOUSE_DERIVE_QUEUE_EVENTS).set(queued as f64),
            Err(error) => tracing::debug!(%error, "could not count the queued events"),
        }
    }

    /// Folds until the queue is empty, [`FOLD_MAX_EVENTS`] per transaction; returns how many.
    pub(crate) async fn fold_all(&self) -> Result<u64, sqlx::Error> {
        let mut total = 0;
        loop {
            let started = Instant::now();
            let mut tx = self.pool.begin().await?;
            let folded = fold(&mut tx, &self.derived, Some(FOLD_MAX_EVENTS)).await?;
            tx.commit().await?;
            if folded > 0 {
                metrics::counter!(WAREHOUSE_FOLDED_EVENTS_TOTAL).increment(folded);
                metrics::histogram!(WAREHOUSE_FOLD_SECONDS).record(started.elapsed().as_secs_f64());
                tracing::debug!(folded, "queued events folded into the derived tables");
            }
            total += folded;
            if folded < FOLD_MAX_EVENTS as u64 {
                return Ok(total);
            }
        }
    }
}
