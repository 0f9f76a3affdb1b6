//! The warehouse schema this build writes, and the check that the database has it: a processor
//! whose warehouse lacks a table or column it needs refuses to commit, loudly, rather than lose or
//! skip events (DESIGN.md §7).

use sqlx::PgPool;

use crate::derived::DerivedTables;

/// SQLSTATEs of a statement that names a column, table or function the database does not have:
/// `undefined_column`, `undefined_table`, `undefined_function`.
const UNDEFINED: [&str; 3] = ["42703", "42P01", "42883"];

/// The columns of `kafka_offsets` a batch writes.
const OFFSET_COLUMNS: [&str; 5] = [
    "consumer_group",
    "topic",
    "partition",
    "next_offset",
    "updated_at",
];

/// The warehouse lacks what this build writes: each missing `table.column` (a missing table shows
/// as all of its columns), and the database's own words when it refused a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaMismatch {
    pub missing: Vec<String>,
    pub refused: Option<String>,
}

impl std::fmt::Display for SchemaMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the warehouse schema lacks what this build writes: ")?;
        if self.missing.is_empty() {
            f.write_str("an object the batch statements name")?;
        } else {
            write!(f, "missing {}", self.missing.join(", "))?;
        }
        if let Some(refused) = &self.refused {
            write!(f, " (PostgreSQL: {refused})")?;
        }
        f.write_str(
            "; nothing is stored until it is there: apply the migrations (`lakehouse-stream-processor migrate`), \
             or, when they are all applied, add back what was removed by hand as its migration defines it \
             (docs/RUNBOOK.md); the batch is retried meanwhile",
        )
    }
}

/// Every `(table, column)` a batch writes with `derived` maintained.
fn required(derived: &DerivedTables) -> Vec<(&'static str, &'static str)> {
    let mut columns: Vec<(&str, &str)> = Vec::new();
    columns.extend(crate::row::EVENT_COLUMNS.iter().map(|c| ("events", *c)));
    columns.extend(OFFSET_COLUMNS.iter().map(|c| ("kafka_offsets", *c)));
    for table in derived.tables() {
        columns.extend(table.columns().iter().map(|c| (table.name(), *c)));
    }
    if !derived.is_empty() {
        columns.extend(
            crate::load::STAGED_COLUMNS
                .iter()
                .map(|c| (crate::load::QUEUE, *c)),
        );
    }
    columns
}

/// The `table.column`s a batch writes that the database's search path does not have.
pub async fn missing_columns(pool: &PgPool, derived: &DerivedTables) -> Result<Vec<String>, sqlx::Error> {
    let (tables, columns): (Vec<&str>, Vec<&str>) = required(derived).into_iter().unzip();
    sqlx::query_scalar(
        "SELECT r.table_name || '.' || r.column_name
         FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS r(table_name, column_name, n)
         WHERE NOT EXISTS (
             SELECT 1 FROM information_schema.columns c
             WHERE c.table_schema = ANY(current_schemas(false))
               AND c.table_name = r.table_name AND c.column_name = r.column_name)
         ORDER BY r.n",
    )
    .bind(&tables)
    .bind(&columns)
    .fetch_all(pool)
    .await
}

/// True when PostgreSQL refused a statement for naming a column, table or function it lacks.
pub fn is_undefined_object(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| UNDEFINED.contains(&code.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_a_batch_writes_is_required_with_the_campaign_columns() {
        let required = required(&DerivedTables::default());
        for table in [
            "events",
            "kafka_offsets",
            "event_rollups_minute",
            "unique_ids_hourly",
            "funnel_progress",
            "event_dimensions_hourly",
            "events_to_derive",
        ] {
            assert!(required.iter().any(|(t, _)| *t == table), "{table}");
        }
        for field in lakehouse_event::UTM_FIELDS {
            assert!(required.contains(&("events", field)), "{field}");
        }
        let unmaintained = super::required(&DerivedTables::new([]));
        assert!(
            unmaintained
                .iter()
                .all(|(t, _)| ["events", "kafka_offsets"].contains(t))
        );
    }

    #[test]
    fn the_refusal_names_what_is_missing_and_what_to_do() {
        let mismatch = SchemaMismatch {
            missing: vec!["events.utm_campaign".into()],
            refused: Some("column \"utm_campaign\" of relation \"events\" does not exist".into()),
        };
        let text = mismatch.to_string();
        assert!(text.contains("missing events.utm_campaign"), "{text}");
        assert!(text.contains("lakehouse-stream-processor migrate"), "{text}");
    }
}
