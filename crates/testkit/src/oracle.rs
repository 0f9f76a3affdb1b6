//! The warehouse oracle: each derived table (rollups, dimensions, unique ids, funnels) recomputed
//! from the raw `events` in SQL and compared with what the table holds. SQL only, not the
//! stream-processor's code, so that it checks that code rather than repeating it.
//!
//! The processor's batches queue what they insert (`events_to_derive`) and its fold adds that to
//! the derived tables moments later: a comparison counts only in a snapshot where nothing is
//! queued, and waits for one (up to [`FOLD_PATIENCE`]).

use std::time::Duration;

use sqlx::PgPool;

use crate::{try_wait_until, wait_until};

/// How long a check waits for a running processor to fold what is queued.
const FOLD_PATIENCE: Duration = Duration::from_secs(60);

/// The queue of events the fold has not derived from yet (stream-processor migration 0007).
const QUEUE: &str = "events_to_derive";

/// What each derived table must hold, recomputed from the raw events, beside what it holds.
const DERIVED: [(&str, &str, &str); 4] = [
    (
        "event_rollups_minute",
        r#"SELECT date_trunc('minute', "timestamp"), project_id, event_type, coalesce(event_name, ''),
                  coalesce(path, ''), count(*), round(coalesce(sum(value), 0)::numeric, 6)
           FROM events GROUP BY 1, 2, 3, 4, 5"#,
        "SELECT bucket, project_id, event_type, event_name, path, events, round(value_sum::numeric, 6)
         FROM event_rollups_minute",
    ),
    (
        "event_dimensions_hourly",
        r#"SELECT date_trunc('hour', e."timestamp"), e.project_id, e.event_type, d.dimension, d.value, count(*),
                  round(coalesce(sum(e.value), 0)::numeric, 6)
           FROM events e CROSS JOIN LATERAL (VALUES
               ('path', e.path), ('referrer_host', lakehouse_referrer_host(e.referrer)), ('browser', e.browser),
               ('os', e.os), ('device_type', e.device_type), ('country', e.country),
               ('utm_source', e.utm_source), ('utm_campaign', e.utm_campaign)) AS d(dimension, value)
           WHERE d.value IS NOT NULL GROUP BY 1, 2, 3, 4, 5"#,
        "SELECT bucket, project_id, event_type, dimension, value, events, round(value_sum::numeric, 6)
         FROM event_dimensions_hourly",
    ),
    (
        "unique_ids_hourly",
        r#"SELECT date_trunc('hour', "timestamp"), project_id, 'visitor', visitor_id FROM events WHERE visitor_id IS NOT NULL
           UNION SELECT date_trunc('hour', "timestamp"), project_id, 'session', session_id FROM events"#,
        "SELECT bucket, project_id, kind, id FROM unique_ids_hourly",
    ),
    (
        "funnel_progress",
        r#"SELECT project_id, properties->>'funnel', (properties->>'step')::int, session_id, min("timestamp")
           FROM events WHERE event_type = 'funnel_step' GROUP BY 1, 2, 3, 4"#,
        "SELECT project_id, funnel, step, session_id, first_at FROM funnel_progress",
    ),
];

/// For each derived table that disagrees with a recomputation from the raw events: its name and
/// how many rows differ (missing on either side, or other values).
pub async fn derived_mismatches(pool: &PgPool) -> Vec<(&'static str, i64)> {
    derived_mismatches_in(pool, |_| true).await
}

/// [`derived_mismatches`] of the derived tables `checked` accepts (by name): a benchmark that
/// switched some off checks the others.
pub async fn derived_mismatches_in(
    pool: &PgPool,
    checked: impl Fn(&str) -> bool,
) -> Vec<(&'static str, i64)> {
    let queued = queue_count(pool).await;
    let mut mismatches = Vec::new();
    for (table, expected, actual) in DERIVED.into_iter().filter(|(table, _, _)| checked(table)) {
        let statement = format!(
            "SELECT (SELECT count(*) FROM (({expected}) EXCEPT ({actual})) AS missing)
                  + (SELECT count(*) FROM (({actual}) EXCEPT ({expected})) AS extra), {queued}"
        );
        let differing = try_wait_until(&format!("{table} with nothing queued"), FOLD_PATIENCE, || async {
            let (differing, queued): (i64, i64) = sqlx::query_as(&statement)
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("compare {table} with the raw events: {e}"));
            match queued {
                0 => Ok(differing),
                _ => Err(format!("{queued} events queued, not derived yet")),
            }
        })
        .await
        .unwrap_or_else(|message| panic!("{message}: is a stream-processor running to fold them?"));
        if differing != 0 {
            mismatches.push((table, differing));
        }
    }
    mismatches
}

/// A scalar subquery counting the queued events, or `0` where the queue does not exist (a
/// warehouse of version 1).
async fn queue_count(pool: &PgPool) -> String {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(QUEUE)
        .fetch_one(pool)
        .await
        .expect("look the queue up");
    if exists {
        format!("(SELECT count(*) FROM {QUEUE})")
    } else {
        "0::bigint".into()
    }
}

/// The derived tables that hold no row: a comparison with an empty table proves little.
pub async fn empty_derived_tables(pool: &PgPool) -> Vec<&'static str> {
    let queued = format!("SELECT {}", queue_count(pool).await);
    wait_until("the queued events folded", FOLD_PATIENCE, || async {
        match sqlx::query_scalar::<_, i64>(&queued).fetch_one(pool).await {
            Ok(0) => Ok(()),
            Ok(n) => Err(format!("{n} events queued")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let mut empty = Vec::new();
    for (table, _, _) in DERIVED {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"));
        if rows == 0 {
            empty.push(table);
        }
    }
    empty
}
