//! Event counts per hour and event type: what each store says it holds, in one shape so that the
//! stores can be compared; and the warehouse's, of its raw `events` and of its per-minute
//! rollups, bucketed like the lake by the event `timestamp` in UTC hours.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::range::HourRange;
use crate::share::Share;

/// Events per (hour, event type); hours and types without events are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(BTreeMap<(DateTime<Utc>, String), i64>);

impl Counts {
    pub fn add(&mut self, hour: DateTime<Utc>, event_type: &str, events: i64) {
        *self.0.entry((hour, event_type.to_string())).or_default() += events;
    }

    pub fn get(&self, hour: DateTime<Utc>, event_type: &str) -> i64 {
        self.0
            .get(&(hour, event_type.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// Every (hour, event type) with events.
    pub fn keys(&self) -> impl Iterator<Item = &(DateTime<Utc>, String)> {
        self.0.keys()
    }

    /// Adds every count of `other` (another store's share, such as another lake table's).
    pub fn merge(&mut self, other: &Counts) {
        for (key, events) in &other.0 {
            *self.0.entry(key.clone()).or_default() += events;
        }
    }

    pub fn total(&self) -> i64 {
        self.0.values().sum()
    }
}

/// Hours are counted from this origin, so that the buckets are UTC hours whatever the session's
/// time zone is.
const HOURS: &str = "date_bin('1 hour', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')";

async fn count(pool: &PgPool, sql: &str, range: &HourRange, share: &Share) -> Result<Counts, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(sql)
        .bind(range.start)
        .bind(range.end)
        .bind(share.project_id())
        .fetch_all(pool)
        .await?;
    let mut counts = Counts::default();
    for (hour, event_type, events) in rows {
        counts.add(hour, &event_type, events);
    }
    Ok(counts)
}

/// Rows of `events` of `share` per hour and event type.
pub async fn raw_counts(pool: &PgPool, range: &HourRange, share: &Share) -> Result<Counts, sqlx::Error> {
    let hour = HOURS.replace("{column}", r#""timestamp""#);
    let sql = format!(
        r#"SELECT {hour}, event_type, count(*) FROM events
           WHERE "timestamp" >= $1 AND "timestamp" < $2 AND {} GROUP BY 1, 2"#,
        Share::condition(3)
    );
    count(pool, &sql, range, share).await
}

/// The events of `share` the per-minute rollups count, summed per hour and event type.
pub async fn rollup_counts(pool: &PgPool, range: &HourRange, share: &Share) -> Result<Counts, sqlx::Error> {
    let hour = HOURS.replace("{column}", "bucket");
    let sql = format!(
        "SELECT {hour}, event_type, sum(events)::bigint FROM event_rollups_minute
         WHERE bucket >= $1 AND bucket < $2 AND {} GROUP BY 1, 2",
        Share::condition(3)
    );
    count(pool, &sql, range, share).await
}
