//! The run's report: what was sent, what each store and the topic hold, the restarts, the
//! freshness in both stores (2xx to visible) and the timeline; printed, and written to
//! `SCENARIO_REPORT` when set (RELIABILITY.md records the soaks' reports).

use std::collections::{BTreeMap, HashSet};

use serde_json::json;
use uuid::Uuid;

use super::Scenario;
use super::checks::{Freshness, Stores, Topic};
use super::load::LoadRun;

/// What the checks found, for the report.
#[derive(Debug)]
pub struct Findings<'a> {
    pub run: &'a LoadRun,
    pub accepted: &'a HashSet<Uuid>,
    pub stores: &'a Stores,
    pub dead_letters: usize,
    pub freshness: Freshness,
    pub topic: &'a Topic,
    pub log_lines: usize,
}

impl Scenario {
    /// Prints the report, writes it to `SCENARIO_REPORT` if set, and removes the logs (kept when
    /// a check failed before).
    pub fn report(self, findings: Findings<'_>) {
        let Findings {
            run,
            accepted,
            stores,
            dead_letters,
            freshness,
            topic,
            log_lines,
        } = findings;
        let (settings, system) = (&self.settings, &self.system);
        let summary = json!({
            "settings": {
                "seconds": settings.load.as_secs(),
                "rate": settings.rate,
                "batch": settings.batch,
                "faults": settings.faults,
            },
            "load": run.report.summary(&run.load),
            "accepted_events": accepted.len(),
            "topic_messages": topic.messages.len(),
            // Sent twice by the generator (refused, yet stored) and kept once by both stores.
            "topic_duplicates": topic.messages.len() - topic.ids.len(),
            "warehouse_events": stores.warehouse.len(),
            "lake_events": stores.lake_events,
            "lake_duplicates": 0,
            "dlq_messages": dead_letters,
            "restarts": BTreeMap::from([
                ("stream-processor", system.processors[0].starts - 1),
                ("delta-writer", system.writers[0].starts - 1),
            ]),
            "freshness_warehouse": freshness.warehouse,
            "freshness_lake": freshness.lake,
            "log_lines_scanned": log_lines,
            "timeline": self.timeline.entries,
        });
        eprintln!("{}", serde_json::to_string_pretty(&summary).expect("JSON"));
        if let Some(path) = &settings.report {
            std::fs::write(path, serde_json::to_string_pretty(&summary).expect("JSON")).expect("the report");
        }
        let _ = std::fs::remove_dir_all(&system.logs);
    }
}
