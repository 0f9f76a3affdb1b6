//! The warehouse oracle: each derived table (rollups, dimensions, unique ids, funnels) recomputed
//! from the raw `events` in SQL and compared with what the table holds. SQL only, not the
//! stream-processor's code, so that it checks that code rather than repeating it.

use sqlx::PgPool;

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
    let mut mismatches = Vec::new();
    for (table, expected, actual) in DERIVED.into_iter().filter(|(table, _, _)| checked(table)) {
        let differing: i64 = sqlx::query_scalar(&format!(
            "SELECT (SELECT count(*) FROM (({expected}) EXCEPT ({actual})) AS missing)
                  + (SELECT count(*) FROM (({actual}) EXCEPT ({expected})) AS extra)"
        ))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("compare {table} with the raw events: {e}"));
        if differing != 0 {
            mismatches.push((table, differing));
        }
    }
    mismatches
}

/// The derived tables that hold no row: a comparison with an empty table proves little.
pub async fn empty_derived_tables(pool: &PgPool) -> Vec<&'static str> {
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
