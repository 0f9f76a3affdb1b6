//! The comparison of the stores: per hour and event type, the lake's count against the
//! warehouse's raw events and its rollups, and whether the difference passes the threshold.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use lakehouse_warehouse::counts::Counts;
use lakehouse_warehouse::range::HourRange;
use serde::Serialize;

use crate::error::SyncError;
use crate::lake_tables::{TableVersion, single_version};

/// How much difference a row may have before it counts as drift.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Threshold {
    /// More than this many events (`--threshold 10`).
    Events(u64),
    /// More than this fraction of the lake's count for that hour and type (`--threshold 0.5%`).
    Fraction(f64),
}

impl FromStr for Threshold {
    type Err = SyncError;

    fn from_str(text: &str) -> Result<Self, SyncError> {
        let invalid = || SyncError::Threshold(text.into());
        match text.trim().strip_suffix('%') {
            Some(percent) => {
                let percent: f64 = percent.trim().parse().map_err(|_| invalid())?;
                if !(0.0..=100.0).contains(&percent) {
                    return Err(invalid());
                }
                Ok(Self::Fraction(percent / 100.0))
            }
            None => text.trim().parse().map(Self::Events).map_err(|_| invalid()),
        }
    }
}

impl Threshold {
    /// Whether `difference` events of drift on a row whose lake count is `lake` pass it.
    pub fn exceeded(&self, difference: i64, lake: i64) -> bool {
        let difference = difference.unsigned_abs();
        match *self {
            Self::Events(events) => difference > events,
            Self::Fraction(fraction) => difference as f64 > fraction * lake.max(0) as f64,
        }
    }
}

/// One hour and event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub hour: DateTime<Utc>,
    pub event_type: String,
    pub lake: i64,
    /// Rows in the warehouse's raw `events`.
    pub warehouse: i64,
    /// Events the warehouse's per-minute rollups count.
    pub rollups: i64,
    /// The larger of |warehouse − lake| and |rollups − lake|.
    pub difference: i64,
    /// Whether `difference` passes the threshold.
    pub drift: bool,
}

/// What reconcile found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub range: String,
    /// The version read, when one table was read (`None` for several: see `tables`).
    pub lake_version: Option<u64>,
    /// Each table of the lake compared, at its version.
    pub tables: Vec<TableVersion>,
    /// The warehouse's events compared: every project's (`null`) or one project's.
    pub project_id: Option<String>,
    pub threshold: Threshold,
    /// Every hour and event type that any store counts, oldest first.
    pub rows: Vec<Row>,
    pub lake_events: i64,
    pub warehouse_events: i64,
    pub rollup_events: i64,
    /// Rows whose difference passes the threshold.
    pub drifting_rows: usize,
}

impl Report {
    pub fn compare(
        range: &HourRange,
        tables: Vec<TableVersion>,
        project_id: Option<&str>,
        threshold: Threshold,
        lake: &Counts,
        warehouse: &Counts,
        rollups: &Counts,
    ) -> Self {
        let mut keys: Vec<_> = lake
            .keys()
            .chain(warehouse.keys())
            .chain(rollups.keys())
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        let rows: Vec<Row> = keys
            .into_iter()
            .map(|(hour, event_type)| {
                let (l, w, r) = (
                    lake.get(hour, &event_type),
                    warehouse.get(hour, &event_type),
                    rollups.get(hour, &event_type),
                );
                let difference = (w - l).abs().max((r - l).abs());
                Row {
                    hour,
                    event_type,
                    lake: l,
                    warehouse: w,
                    rollups: r,
                    difference,
                    drift: threshold.exceeded(difference, l),
                }
            })
            .collect();
        Self {
            range: range.to_string(),
            lake_version: single_version(&tables),
            tables,
            project_id: project_id.map(str::to_string),
            threshold,
            drifting_rows: rows.iter().filter(|row| row.drift).count(),
            rows,
            lake_events: lake.total(),
            warehouse_events: warehouse.total(),
            rollup_events: rollups.total(),
        }
    }

    /// True when no row passes the threshold.
    pub fn passed(&self) -> bool {
        self.drifting_rows == 0
    }

    /// Total |warehouse − lake| and |rollups − lake| over every row.
    pub fn absolute_drift(&self) -> (i64, i64) {
        self.rows.iter().fold((0, 0), |(w, r), row| {
            (
                w + (row.warehouse - row.lake).abs(),
                r + (row.rollups - row.lake).abs(),
            )
        })
    }

    /// An aligned table: the drifting rows (all rows when `all`), then a summary line.
    pub fn table(&self, all: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<20}  {:<20}  {:>10}  {:>10}  {:>10}  {:>10}",
            "hour", "event_type", "lake", "warehouse", "rollups", "difference"
        );
        for row in self.rows.iter().filter(|row| all || row.drift) {
            let _ = writeln!(
                out,
                "{:<20}  {:<20}  {:>10}  {:>10}  {:>10}  {:>10}{}",
                row.hour.format("%Y-%m-%dT%H:%MZ"),
                row.event_type,
                row.lake,
                row.warehouse,
                row.rollups,
                row.difference,
                if row.drift { "  DRIFT" } else { "" }
            );
        }
        let lake = match (&self.tables[..], self.lake_version) {
            ([one], Some(version)) => format!("lake {} version {version}", one.table),
            ([one], None) => format!("lake {} version ?", one.table),
            (many, _) => format!("lake of {} tables", many.len()),
        };
        let warehouse = self
            .project_id
            .as_ref()
            .map_or_else(String::new, |project_id| format!(" (project {project_id})"));
        let _ = writeln!(
            out,
            "{}: {lake}: lake {}, warehouse{warehouse} {}, rollups {} events; {} of {} hour/type rows drift past {}",
            self.range,
            self.lake_events,
            self.warehouse_events,
            self.rollup_events,
            self.drifting_rows,
            self.rows.len(),
            match self.threshold {
                Threshold::Events(n) => format!("{n} events"),
                Threshold::Fraction(f) => format!("{}%", f * 100.0),
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(h: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 10, 20, h, 0, 0).unwrap()
    }

    #[test]
    fn thresholds_are_event_counts_or_percentages() {
        assert_eq!("10".parse::<Threshold>().unwrap(), Threshold::Events(10));
        assert_eq!("0.5%".parse::<Threshold>().unwrap(), Threshold::Fraction(0.005));
        for bad in ["-1", "ten", "150%", "%"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
        assert!(!Threshold::Events(2).exceeded(2, 100));
        assert!(Threshold::Events(2).exceeded(-3, 100));
        assert!(!Threshold::Fraction(0.01).exceeded(1, 100));
        assert!(Threshold::Fraction(0.01).exceeded(2, 100));
        // A row the lake does not have at all drifts with any events, whatever the fraction.
        assert!(Threshold::Fraction(0.5).exceeded(1, 0));
    }

    #[test]
    fn a_rollup_that_stopped_filling_is_drift_even_when_raw_events_agree() {
        let range: HourRange = "2026-10-20..2026-10-21".parse().unwrap();
        let (mut lake, mut warehouse, mut rollups) =
            (Counts::default(), Counts::default(), Counts::default());
        for counts in [&mut lake, &mut warehouse, &mut rollups] {
            counts.add(hour(1), "page_view", 10);
        }
        lake.add(hour(2), "page_view", 7);
        warehouse.add(hour(2), "page_view", 7);
        warehouse.add(hour(3), "garbage", 4);
        rollups.add(hour(3), "garbage", 4);
        let report = Report::compare(
            &range,
            vec![TableVersion {
                table: lakehouse_lake::TablePath::events(),
                version: Some(3),
            }],
            None,
            Threshold::Events(0),
            &lake,
            &warehouse,
            &rollups,
        );
        let drifting: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.drift)
            .map(|r| (r.hour, r.event_type.as_str(), r.difference))
            .collect();
        assert_eq!(drifting, vec![(hour(2), "page_view", 7), (hour(3), "garbage", 4)]);
        assert!(!report.passed());
        assert_eq!(report.absolute_drift(), (4, 11));
        let table = report.table(false);
        assert!(table.contains("2026-10-20T02:00Z"), "{table}");
        assert!(!table.contains("T01:00Z"), "{table}");
        assert!(report.table(true).contains("T01:00Z"));
    }
}
