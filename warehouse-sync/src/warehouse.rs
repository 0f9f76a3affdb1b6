//! The warehouse side: counts per hour and event type in the raw `events` table and in the
//! per-minute rollups, bucketed like the lake by the event `timestamp` in UTC hours.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::counts::Counts;
use crate::error::Result;
use crate::range::HourRange;

/// Hours are counted from this origin, so that the buckets are UTC hours whatever the session's
/// time zone is.
const HOURS: &str = "date_bin('1 hour', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')";

/// A small pool for one command run.
pub async fn connect(database_url: &str) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(database_url)
        .await?)
}

async fn count(pool: &PgPool, sql: &str, range: &HourRange) -> Result<Counts> {
    let rows: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(sql)
        .bind(range.start)
        .bind(range.end)
        .fetch_all(pool)
        .await?;
    let mut counts = Counts::default();
    for (hour, event_type, events) in rows {
        counts.add(hour, &event_type, events);
    }
    Ok(counts)
}

/// Rows of `events` per hour and event type.
pub async fn raw_counts(pool: &PgPool, range: &HourRange) -> Result<Counts> {
    let hour = HOURS.replace("{column}", r#""timestamp""#);
    let sql = format!(
        r#"SELECT {hour}, event_type, count(*) FROM events
           WHERE "timestamp" >= $1 AND "timestamp" < $2 GROUP BY 1, 2"#
    );
    count(pool, &sql, range).await
}

/// The events the per-minute rollups count, summed per hour and event type.
pub async fn rollup_counts(pool: &PgPool, range: &HourRange) -> Result<Counts> {
    let hour = HOURS.replace("{column}", "bucket");
    let sql = format!(
        "SELECT {hour}, event_type, sum(events)::bigint FROM event_rollups_minute
         WHERE bucket >= $1 AND bucket < $2 GROUP BY 1, 2"
    );
    count(pool, &sql, range).await
}
