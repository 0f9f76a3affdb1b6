//! Reconcile's metrics. A CronJob lives too briefly to be scraped, so they are written as a
//! Prometheus text file (for node-exporter's textfile collector, or a sidecar that pushes it) and
//! logged as one structured summary line.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::drift::Report;
use crate::error::{Result, SyncError};

/// Events each store counts over the range, label `store` = `lake` | `warehouse` | `rollups`.
pub const EVENTS: &str = "lakehouse_reconcile_events";
/// Total |store − lake| over every hour and event type, label `store` = `warehouse` | `rollups`.
pub const DRIFT_EVENTS: &str = "lakehouse_reconcile_drift_events";
/// Hour/event-type rows whose difference passed the threshold: alert when above 0.
pub const DRIFTING_ROWS: &str = "lakehouse_reconcile_drifting_rows";
/// When the run finished: alert when it is too old (the CronJob stopped running).
pub const LAST_RUN: &str = "lakehouse_reconcile_last_run_timestamp_seconds";

/// The report in Prometheus text exposition format.
pub fn render(report: &Report, finished: DateTime<Utc>) -> String {
    let (warehouse_drift, rollup_drift) = report.absolute_drift();
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(&str, i64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    family(
        EVENTS,
        "Events each store counts over the reconciled range.",
        &[
            (r#"{store="lake"}"#, report.lake_events),
            (r#"{store="warehouse"}"#, report.warehouse_events),
            (r#"{store="rollups"}"#, report.rollup_events),
        ],
    );
    family(
        DRIFT_EVENTS,
        "Sum over hours and event types of the store's absolute difference from the lake.",
        &[
            (r#"{store="warehouse"}"#, warehouse_drift),
            (r#"{store="rollups"}"#, rollup_drift),
        ],
    );
    family(
        DRIFTING_ROWS,
        "Hour and event type rows whose difference passed the threshold.",
        &[("", report.drifting_rows as i64)],
    );
    family(
        LAST_RUN,
        "When reconcile last finished, in Unix seconds.",
        &[("", finished.timestamp())],
    );
    out
}

/// Writes the metrics to `path` through a temporary file and a rename, so that a collector never
/// reads half a file.
pub fn write(path: &Path, report: &Report, finished: DateTime<Utc>) -> Result<()> {
    let io = |source| SyncError::Io {
        path: path.display().to_string(),
        source,
    };
    let temporary = path.with_extension("prom.tmp");
    std::fs::write(&temporary, render(report, finished)).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// The one log line an alert on logs can match: `reconcile summary` with the numbers.
pub fn log_summary(report: &Report) {
    let (warehouse_drift, rollup_drift) = report.absolute_drift();
    if report.passed() {
        tracing::info!(range = %report.range, lake_version = ?report.lake_version,
            lake_events = report.lake_events, warehouse_events = report.warehouse_events,
            rollup_events = report.rollup_events, drifting_rows = report.drifting_rows,
            warehouse_drift, rollup_drift, "reconcile summary: the stores agree");
    } else {
        tracing::error!(range = %report.range, lake_version = ?report.lake_version,
            lake_events = report.lake_events, warehouse_events = report.warehouse_events,
            rollup_events = report.rollup_events, drifting_rows = report.drifting_rows,
            warehouse_drift, rollup_drift,
            "reconcile summary: the warehouse drifts from the lake; see docs/RUNBOOK.md (c)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::Threshold;
    use lakehouse_warehouse::counts::Counts;

    #[test]
    fn the_text_format_has_one_gauge_per_family_and_the_drift() {
        let range = "2026-10-20..2026-10-21".parse().unwrap();
        let hour = range_start(&range);
        let (mut lake, mut warehouse, rollups) = (Counts::default(), Counts::default(), Counts::default());
        lake.add(hour, "click", 5);
        warehouse.add(hour, "click", 5);
        let read = vec![crate::lake_tables::TableVersion {
            table: lakehouse_lake::TablePath::events(),
            version: Some(1),
        }];
        let report = Report::compare(
            &range,
            read,
            None,
            Threshold::Events(0),
            &lake,
            &warehouse,
            &rollups,
        );
        let text = render(&report, hour);
        assert!(
            text.contains("lakehouse_reconcile_events{store=\"lake\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("lakehouse_reconcile_drift_events{store=\"rollups\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("lakehouse_reconcile_drifting_rows 1\n"), "{text}");
        assert_eq!(text.matches("# TYPE").count(), 4);
        let dir = std::env::temp_dir().join(format!("reconcile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("reconcile.prom");
        write(&path, &report, hour).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn range_start(range: &lakehouse_warehouse::range::HourRange) -> DateTime<Utc> {
        range.start
    }
}
