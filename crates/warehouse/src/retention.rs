//! Retention: raw events are kept for a number of days after they arrived (which makes that
//! period the deduplication window too), the derived tables for their own, longer period. Deleted
//! in small slices so that no statement holds locks for long; hypertables drop whole chunks. One
//! replica does it at a time (an advisory lock); the others skip that round.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lakehouse_telemetry::metrics::RETENTION_RUNS_TOTAL;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::timescale::HYPERTABLES;

/// Rows deleted per statement.
const SLICE: i64 = 10_000;

/// The outcomes a retention round is counted under.
const OUTCOMES: [&str; 3] = ["applied", "skipped", "failed"];

/// How long each kind of data is kept; `None` keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw `events`, by `received_at`. At least a day: it is the deduplication window.
    pub events: Option<chrono::Duration>,
    /// Rollups, breakdowns, unique ids and funnel progress, by their time bucket.
    pub derived: Option<chrono::Duration>,
}

/// Rows (or, for hypertables, chunks) removed per table.
pub type Removed = Vec<(&'static str, u64)>;

impl Retention {
    /// Deletes what is older than the retention allows at `now`. Returns `None` when another
    /// replica holds the retention lock.
    pub async fn apply(&self, pool: &PgPool, now: DateTime<Utc>) -> Result<Option<Removed>, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('lakehouse.retention'))")
            .fetch_one(&mut *conn)
            .await?;
        if !locked {
            return Ok(None);
        }
        let result = self.delete(&mut conn, now).await;
        // A failed unlock is harmless: the lock goes with the session.
        let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('lakehouse.retention'))")
            .execute(&mut *conn)
            .await;
        result.map(Some)
    }

    async fn delete(
        &self,
        conn: &mut sqlx::PgConnection,
        now: DateTime<Utc>,
    ) -> Result<Removed, sqlx::Error> {
        let mut removed = Vec::new();
        if let Some(keep) = self.events {
            removed.push((
                "events",
                delete_sliced(conn, "events", "received_at", now - keep).await?,
            ));
        }
        if let Some(keep) = self.derived {
            let cutoff = now - keep;
            let timescale = crate::timescale::installed(&mut *conn).await?.is_some();
            for (table, column) in HYPERTABLES {
                let count = if timescale {
                    let dropped: Vec<String> =
                        sqlx::query_scalar("SELECT drop_chunks($1::regclass, older_than => $2)::text")
                            .bind(table)
                            .bind(cutoff)
                            .fetch_all(&mut *conn)
                            .await?;
                    dropped.len() as u64
                } else {
                    delete_sliced(conn, table, column, cutoff).await?
                };
                removed.push((table, count));
            }
            removed.push((
                "funnel_progress",
                delete_sliced(conn, "funnel_progress", "first_at", cutoff).await?,
            ));
        }
        Ok(removed)
    }

    /// Applies the retention every `interval` until `shutdown`, the first time a minute after
    /// start-up (once the migrations ran); failures are logged and retried at the next round.
    /// Each round is counted by outcome (`lakehouse_retention_runs_total`, every outcome from zero
    /// so that the first failure is an increase), which the `LakehouseRetentionFailing` alert reads.
    pub async fn run_every(self, pool: PgPool, interval: Duration, shutdown: CancellationToken) {
        let round = |outcome: &'static str| metrics::counter!(RETENTION_RUNS_TOTAL, "outcome" => outcome);
        for outcome in OUTCOMES {
            round(outcome).absolute(0);
        }
        let mut wait = interval.min(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = interval;
            let result = self.apply(&pool, Utc::now()).await;
            round(match &result {
                Ok(Some(_)) => "applied",
                Ok(None) => "skipped",
                Err(_) => "failed",
            })
            .increment(1);
            match result {
                Ok(Some(removed)) if removed.iter().any(|(_, n)| *n > 0) => {
                    tracing::info!(removed = ?removed, "retention applied")
                }
                Ok(Some(_)) => tracing::debug!("retention: nothing to remove"),
                Ok(None) => tracing::debug!("retention: another replica is applying it"),
                Err(error) => {
                    tracing::warn!(%error, retry_in_s = interval.as_secs(), "retention failed; retrying later")
                }
            }
        }
    }
}

/// Deletes the rows of `table` whose `column` is before `cutoff`, a slice at a time.
async fn delete_sliced(
    conn: &mut sqlx::PgConnection,
    table: &str,
    column: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let statement = format!(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {column} < $1 LIMIT {SLICE}))"
    );
    let mut total = 0;
    loop {
        let deleted = sqlx::query(&statement)
            .bind(cutoff)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < SLICE as u64 {
            return Ok(total);
        }
    }
}
