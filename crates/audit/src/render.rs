//! The audit log as an aligned text table, for people (scripts read the JSON lines instead).

use crate::action::AuditRecord;

/// Longest result shown in a cell; the JSON lines have it whole.
const RESULT_WIDTH: usize = 60;

/// One line per record under a header: id, time, actor, action, outcome, arguments, result.
pub fn table(records: &[AuditRecord]) -> String {
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|record| {
            let mut result = record.result.to_string();
            if result.chars().count() > RESULT_WIDTH {
                result = result.chars().take(RESULT_WIDTH - 1).chain(['…']).collect();
            }
            [
                record.id.map(|id| id.to_string()).unwrap_or_default(),
                record.at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                record.actor.clone(),
                record.action.clone(),
                if record.ok { "ok" } else { "FAILED" }.to_string(),
                record.arguments.to_string(),
                result,
            ]
        })
        .collect();
    let header = ["id", "at", "actor", "action", "outcome", "arguments", "result"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_and_long_results_are_cut() {
        let mut record = crate::Action::new("sre-1", "lake.vacuum", json!({"dry_run": false}))
            .finished(&Ok::<_, String>(json!({"files": "x".repeat(200)})));
        record.id = Some(7);
        let text = table(&[record]);
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
}
