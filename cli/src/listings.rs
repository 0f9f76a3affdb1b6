//! What each listing shows in a table or CSV ([`Listing`]): the lake's history and diff, the
//! stored keys, the dead letters, the audit log, reconcile's rows. JSON prints each item whole.

use lakehouse_audit::AuditRecord;
use lakehouse_lake::{Commit, DiffRow, TablePath};
use lakehouse_warehouse::api_keys::StoredKey;

use crate::dlq::DeadLetter;
use crate::drift::Row;
use crate::output::{Listing, time};

/// Longest audit result shown in a cell; JSON has it whole.
const RESULT_WIDTH: usize = 60;

impl Listing for Commit {
    const COLUMNS: &'static [&'static str] = &["version", "timestamp", "operation", "by", "metrics"];

    fn cells(&self) -> Vec<String> {
        let metrics = if self.metrics.is_null() {
            String::new()
        } else {
            self.metrics.to_string()
        };
        vec![
            self.version.to_string(),
            self.timestamp
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            self.operation.clone(),
            committed_by(self),
            metrics,
        ]
    }
}

/// Who made a commit, from the audit record in its `userMetadata`: `actor (action)`.
fn committed_by(commit: &Commit) -> String {
    let Some(text) = &commit.user_metadata else {
        return String::new();
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(note) if note["audit"]["actor"].is_string() => format!(
            "{} ({})",
            note["audit"]["actor"].as_str().unwrap_or_default(),
            note["audit"]["action"].as_str().unwrap_or_default()
        ),
        _ => text.clone(),
    }
}

/// One table of `lake tables`.
#[derive(Debug, serde::Serialize)]
pub struct TableRow {
    pub table: TablePath,
}

impl Listing for TableRow {
    const COLUMNS: &'static [&'static str] = &["table"];

    fn cells(&self) -> Vec<String> {
        vec![self.table.to_string()]
    }
}

impl Listing for DiffRow {
    const COLUMNS: &'static [&'static str] = &["event_date", "event_type", "added", "removed"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.event_date.clone(),
            self.event_type.clone(),
            self.added.to_string(),
            self.removed.to_string(),
        ]
    }
}

impl Listing for StoredKey {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "project_id",
        "name",
        "key_prefix",
        "created_at",
        "revoked_at",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.project_id.clone(),
            self.name.clone(),
            self.key_prefix.clone(),
            time(Some(self.created_at)),
            time(self.revoked_at),
        ]
    }
}

impl Listing for DeadLetter {
    const COLUMNS: &'static [&'static str] = &["partition", "offset", "dead_lettered", "origin", "error"];

    fn cells(&self) -> Vec<String> {
        let origin = match (&self.source_topic, self.source_partition, self.source_offset) {
            (Some(topic), Some(partition), Some(offset)) => format!("{topic}:{partition}:{offset}"),
            _ => "?".into(),
        };
        vec![
            self.partition.to_string(),
            self.offset.to_string(),
            time(self.timestamp),
            origin,
            self.error.clone().unwrap_or_else(|| "?".into()),
        ]
    }
}

impl Listing for AuditRecord {
    const COLUMNS: &'static [&'static str] =
        &["id", "at", "actor", "action", "outcome", "arguments", "result"];

    fn cells(&self) -> Vec<String> {
        let mut result = self.result.to_string();
        if result.chars().count() > RESULT_WIDTH {
            result = result.chars().take(RESULT_WIDTH - 1).chain(['…']).collect();
        }
        vec![
            self.id.map(|id| id.to_string()).unwrap_or_default(),
            time(Some(self.at)),
            self.actor.clone(),
            self.action.clone(),
            if self.ok { "ok" } else { "FAILED" }.to_string(),
            self.arguments.to_string(),
            result,
        ]
    }
}

impl Listing for Row {
    const COLUMNS: &'static [&'static str] = &[
        "hour",
        "event_type",
        "lake",
        "warehouse",
        "rollups",
        "difference",
        "drift",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.hour.format("%Y-%m-%dT%H:%MZ").to_string(),
            self.event_type.clone(),
            self.lake.to_string(),
            self.warehouse.to_string(),
            self.rollups.to_string(),
            self.difference.to_string(),
            self.drift.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Output;
    use crate::output::render;
    use serde_json::json;

    #[test]
    fn an_audit_table_lines_up_and_cuts_long_results() {
        let mut record = lakehouse_audit::Action::new("sre-1", "lake.vacuum", json!({"dry_run": false}))
            .finished(&Ok::<_, String>(json!({"files": "x".repeat(200)})));
        record.id = Some(7);
        let text = render(&[record], Output::Table).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("id  at"), "{text}");
        assert_eq!(lines[0].find("actor"), lines[1].find("sre-1"), "{text}");
        assert!(
            lines[1].contains("lake.vacuum") && lines[1].contains("ok"),
            "{text}"
        );
        assert!(lines[1].ends_with('…') && lines[1].len() < 250, "{text}");
    }

    #[test]
    fn a_commit_names_who_made_it_from_its_audit_note() {
        let commit = Commit {
            version: 3,
            timestamp: None,
            operation: "VACUUM END".into(),
            metrics: serde_json::Value::Null,
            user_metadata: Some(json!({"audit": {"actor": "sre-1", "action": "lake.vacuum"}}).to_string()),
        };
        assert_eq!(commit.cells()[3], "sre-1 (lake.vacuum)");
        let csv = render(&[commit], Output::Csv).unwrap();
        assert!(
            csv.starts_with("version,timestamp,operation,by,metrics\n3,,VACUUM END,sre-1 (lake.vacuum),\n"),
            "{csv}"
        );
    }
}
