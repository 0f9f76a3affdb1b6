//! The tables the dashboards read, derived from events staged in the session's temporary table
//! `lakehouse_new_events` (by the fold, [`crate::fold`], or by a rebuild or an erasure in its own
//! transaction), only ever events that were really inserted, so that a duplicate or a replay
//! never counts twice.
//!
//! Each table is fed by one set-based `INSERT ... SELECT ... GROUP BY ... ON CONFLICT`, with its
//! rows sorted in the order of the table's key. Derivations of this version are serialised by the
//! fold's advisory lock (a rebuild or an erasure takes it with its fold and keeps it to its
//! commit); one that runs beside them (a processor of an earlier version, deriving in its batch, during an
//! upgrade) takes the row locks of a table in the same order, and waits instead of deadlocking.
//! The tables go in a fixed order too.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A derived table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DerivedTable {
    /// `event_rollups_minute`: counts and value sums per minute, project, type, name and path.
    Rollups,
    /// `unique_ids_hourly`: the visitor and session ids seen each hour.
    UniqueIds,
    /// `funnel_progress`: the funnel steps each session reached, and when first.
    Funnels,
    /// `event_dimensions_hourly`: counts and value sums per hour and type by eight dimensions.
    Dimensions,
}

impl DerivedTable {
    /// Every derived table, in the order they are derived.
    pub const ALL: [DerivedTable; 4] = [
        DerivedTable::Rollups,
        DerivedTable::UniqueIds,
        DerivedTable::Funnels,
        DerivedTable::Dimensions,
    ];

    /// The time bucket of the table's `bucket` column; `None` for a table keyed otherwise
    /// (funnel progress is per session, with the time its step was first reached).
    pub fn bucket(self) -> Option<Bucket> {
        match self {
            DerivedTable::Rollups => Some(Bucket::Minute),
            DerivedTable::UniqueIds | DerivedTable::Dimensions => Some(Bucket::Hour),
            DerivedTable::Funnels => None,
        }
    }

    /// The tables bucketed by time, in the order they are derived.
    pub fn bucketed() -> impl Iterator<Item = (DerivedTable, Bucket)> {
        DerivedTable::ALL
            .into_iter()
            .filter_map(|table| table.bucket().map(|bucket| (table, bucket)))
    }

    pub fn name(self) -> &'static str {
        match self {
            DerivedTable::Rollups => "event_rollups_minute",
            DerivedTable::UniqueIds => "unique_ids_hourly",
            DerivedTable::Funnels => "funnel_progress",
            DerivedTable::Dimensions => "event_dimensions_hourly",
        }
    }

    /// The columns the table's statement writes: what [`crate::schema`] checks the warehouse has.
    pub(crate) fn columns(self) -> &'static [&'static str] {
        match self {
            DerivedTable::Rollups => &[
                "bucket",
                "project_id",
                "event_type",
                "event_name",
                "path",
                "events",
                "value_sum",
            ],
            DerivedTable::UniqueIds => &["bucket", "project_id", "kind", "id"],
            DerivedTable::Funnels => &["project_id", "funnel", "step", "session_id", "first_at"],
            DerivedTable::Dimensions => &[
                "bucket",
                "project_id",
                "event_type",
                "dimension",
                "value",
                "events",
                "value_sum",
            ],
        }
    }

    /// The statement that adds the staged events to the table.
    fn sql(self) -> &'static str {
        match self {
            DerivedTable::Rollups => {
                r#"INSERT INTO event_rollups_minute AS r (bucket, project_id, event_type, event_name, path, events, value_sum)
                SELECT date_trunc('minute', "timestamp"), project_id, event_type, coalesce(event_name, ''),
                       coalesce(path, ''), count(*), coalesce(sum(value), 0)
                FROM lakehouse_new_events
                GROUP BY 1, 2, 3, 4, 5
                ORDER BY 1, 2, 3, 4, 5
                ON CONFLICT (bucket, project_id, event_type, event_name, path) DO UPDATE
                SET events = r.events + EXCLUDED.events, value_sum = r.value_sum + EXCLUDED.value_sum"#
            }
            DerivedTable::UniqueIds => {
                r#"INSERT INTO unique_ids_hourly (bucket, project_id, kind, id)
                SELECT DISTINCT date_trunc('hour', i."timestamp"), i.project_id, u.kind, u.id
                FROM lakehouse_new_events i
                CROSS JOIN LATERAL (VALUES ('visitor', i.visitor_id), ('session', i.session_id)) AS u(kind, id)
                WHERE u.id IS NOT NULL
                ORDER BY 2, 3, 1, 4
                ON CONFLICT DO NOTHING"#
            }
            DerivedTable::Funnels => {
                // A step reached earlier lowers `first_at`; a row that keeps its value is not
                // rewritten (a new row version and its index entries for nothing).
                r#"INSERT INTO funnel_progress AS f (project_id, funnel, step, session_id, first_at)
                SELECT project_id, properties->>'funnel', lakehouse_funnel_step(properties), session_id, min("timestamp")
                FROM lakehouse_new_events
                WHERE event_type = 'funnel_step' AND lakehouse_funnel_step(properties) IS NOT NULL
                GROUP BY 1, 2, 3, 4
                ORDER BY 1, 2, 3, 4
                ON CONFLICT (project_id, funnel, step, session_id) DO UPDATE
                SET first_at = EXCLUDED.first_at WHERE f.first_at > EXCLUDED.first_at"#
            }
            DerivedTable::Dimensions => {
                r#"INSERT INTO event_dimensions_hourly AS d (bucket, project_id, event_type, dimension, value, events, value_sum)
                SELECT date_trunc('hour', i."timestamp"), i.project_id, i.event_type, x.dimension, x.value, count(*),
                       coalesce(sum(i.value), 0)
                FROM lakehouse_new_events i
                CROSS JOIN LATERAL lakehouse_dimensions(i.path, i.referrer, i.browser, i.os, i.device_type, i.country,
                                                   i.utm_source, i.utm_campaign) AS x
                GROUP BY 1, 2, 3, 4, 5
                ORDER BY 1, 2, 3, 4, 5
                ON CONFLICT (bucket, project_id, event_type, dimension, value) DO UPDATE
                SET events = d.events + EXCLUDED.events, value_sum = d.value_sum + EXCLUDED.value_sum"#
            }
        }
    }
}

/// How long a bucketed table's time buckets are: a range of whole hours holds each bucket wholly
/// inside or wholly outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
}

impl fmt::Display for DerivedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a derived table (event_rollups_minute, unique_ids_hourly, funnel_progress, event_dimensions_hourly)"
)]
pub struct UnknownTable(String);

impl FromStr for DerivedTable {
    type Err = UnknownTable;

    fn from_str(name: &str) -> Result<Self, UnknownTable> {
        DerivedTable::ALL
            .into_iter()
            .find(|table| table.name() == name.trim())
            .ok_or_else(|| UnknownTable(name.into()))
    }
}

/// A comma-separated list of table names; empty for none.
impl FromStr for DerivedTables {
    type Err = UnknownTable;

    fn from_str(names: &str) -> Result<Self, UnknownTable> {
        let tables = names
            .split(',')
            .filter(|name| !name.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<DerivedTable>, _>>()?;
        Ok(Self::new(tables))
    }
}

/// The statement that empties the stage once its rows are derived.
const EMPTY_STAGE: &str = "DELETE FROM lakehouse_new_events";

/// The derived tables a writer maintains: all of them, unless a benchmark measures what each costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedTables {
    tables: BTreeSet<DerivedTable>,
}

impl Default for DerivedTables {
    fn default() -> Self {
        Self::new(DerivedTable::ALL)
    }
}

impl DerivedTables {
    pub fn new(tables: impl IntoIterator<Item = DerivedTable>) -> Self {
        Self {
            tables: tables.into_iter().collect(),
        }
    }

    /// The tables maintained, in the order they are written.
    pub fn tables(&self) -> impl Iterator<Item = DerivedTable> + '_ {
        self.tables.iter().copied()
    }

    /// True when no table is maintained: nothing is staged or queued for them.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The tables not maintained.
    pub fn skipped(&self) -> Vec<DerivedTable> {
        DerivedTable::ALL
            .into_iter()
            .filter(|table| !self.tables.contains(table))
            .collect()
    }

    /// Adds the events staged in this transaction to the tables, then empties the stage.
    pub async fn derive(&self, conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        for table in &self.tables {
            sqlx::query(table.sql()).execute(&mut *conn).await?;
        }
        sqlx::query(EMPTY_STAGE).execute(conn).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_tables() {
        for table in DerivedTable::ALL {
            assert_eq!(table.name().parse::<DerivedTable>(), Ok(table));
        }
        assert!("events".parse::<DerivedTable>().is_err());
        assert_eq!(
            "funnel_progress, event_rollups_minute".parse::<DerivedTables>(),
            Ok(DerivedTables::new([DerivedTable::Funnels, DerivedTable::Rollups]))
        );
        assert_eq!("".parse::<DerivedTables>(), Ok(DerivedTables::new([])));
        assert!("event_rollups_minute,events".parse::<DerivedTables>().is_err());
    }

    #[test]
    fn each_statement_writes_the_columns_the_schema_check_requires() {
        for table in DerivedTable::ALL {
            let sql = table.sql();
            assert!(sql.contains(&format!("INSERT INTO {} ", table.name())), "{table}");
            for column in table.columns() {
                assert!(sql.contains(column), "{table}.{column}");
            }
        }
        assert!(
            DerivedTable::Dimensions
                .sql()
                .contains("i.utm_source, i.utm_campaign")
        );
    }

    #[test]
    fn every_table_but_funnel_progress_is_bucketed() {
        let bucketed: Vec<_> = DerivedTable::bucketed().collect();
        assert_eq!(
            bucketed,
            [
                (DerivedTable::Rollups, Bucket::Minute),
                (DerivedTable::UniqueIds, Bucket::Hour),
                (DerivedTable::Dimensions, Bucket::Hour)
            ]
        );
        for (table, _) in bucketed {
            assert!(table.columns().contains(&"bucket"), "{table}");
        }
    }

    #[test]
    fn the_hourly_breakdowns_are_written_last() {
        let all = DerivedTables::default();
        assert_eq!(all.tables().last(), Some(DerivedTable::Dimensions));
        assert!(all.skipped().is_empty());
        let some = DerivedTables::new([DerivedTable::Dimensions, DerivedTable::Rollups]);
        assert_eq!(
            some.tables().collect::<Vec<_>>(),
            [DerivedTable::Rollups, DerivedTable::Dimensions]
        );
        assert_eq!(some.skipped(), [DerivedTable::UniqueIds, DerivedTable::Funnels]);
    }
}
