//! What changed between two versions of the table, as rows per day and event type added and
//! removed: what a bad deploy wrote, what a restore would undo.
//!
//! Only the data files that differ between the versions are read. A row counts as added when an
//! added file holds it and no removed file holds its `event_id`, and removed the other way round,
//! so that files rewritten without changing rows (`optimize`) show no change, while a rewrite that
//! left rows out (a user's erasure) shows exactly those.

use std::collections::{BTreeMap, HashSet};

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::LakeError;

/// Rows of one day and event type that a change added and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffRow {
    /// `YYYY-MM-DD`.
    pub event_date: String,
    pub event_type: String,
    pub added: u64,
    pub removed: u64,
}

/// The change from one version to another (either may be the newer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub from_version: u64,
    pub to_version: u64,
    /// Data files in `to` that `from` does not have, and the other way round.
    pub files_added: usize,
    pub files_removed: usize,
    /// By day, then event type; only pairs with a change.
    pub rows: Vec<DiffRow>,
}

impl Diff {
    pub fn rows_added(&self) -> u64 {
        self.rows.iter().map(|row| row.added).sum()
    }

    pub fn rows_removed(&self) -> u64 {
        self.rows.iter().map(|row| row.removed).sum()
    }
}

/// The rows that `to` has and `from` has not (added), and the other way round (removed).
pub async fn diff(from: &DeltaTable, to: &DeltaTable) -> Result<Diff, LakeError> {
    let from_files = file_paths(from)?;
    let to_files = file_paths(to)?;
    let added: Vec<String> = to_files.difference(&from_files).cloned().collect();
    let removed: Vec<String> = from_files.difference(&to_files).cloned().collect();
    let mut diff = Diff {
        from_version: from.version().unwrap_or(0),
        to_version: to.version().unwrap_or(0),
        files_added: added.len(),
        files_removed: removed.len(),
        rows: Vec::new(),
    };
    let context = SessionContext::new();
    // An empty file selection would be read as "every file": such a side is left unregistered.
    for (name, table, paths) in [("added", to, &added), ("removed", from, &removed)] {
        if !paths.is_empty() {
            table.update_datafusion_session(&context.state())?;
            let provider = table.table_provider().with_file_paths(paths.clone()).await?;
            context.register_table(name, provider)?;
        }
    }
    let count = |side: &str, other: &str, other_present: bool| {
        let without_other = if other_present {
            format!("WHERE NOT EXISTS (SELECT 1 FROM {other} o WHERE o.event_id = s.event_id)")
        } else {
            String::new()
        };
        format!(
            "SELECT CAST(s.event_date AS VARCHAR), CAST(s.event_type AS VARCHAR), count(*) \
             FROM {side} s {without_other} GROUP BY 1, 2"
        )
    };
    let mut rows: BTreeMap<(String, String), DiffRow> = BTreeMap::new();
    let sides = [
        ("added", "removed", !added.is_empty(), !removed.is_empty()),
        ("removed", "added", !removed.is_empty(), !added.is_empty()),
    ];
    for (side, other, present, other_present) in sides {
        if !present {
            continue;
        }
        let batches = context
            .sql(&count(side, other, other_present))
            .await?
            .collect()
            .await?;
        for (event_date, event_type, n) in triples(&batches)? {
            let row = rows
                .entry((event_date.clone(), event_type.clone()))
                .or_insert_with(|| DiffRow {
                    event_date,
                    event_type,
                    ..DiffRow::default()
                });
            match side {
                "added" => row.added += n,
                _ => row.removed += n,
            }
        }
    }
    diff.rows = rows.into_values().collect();
    Ok(diff)
}

fn file_paths(table: &DeltaTable) -> Result<HashSet<String>, LakeError> {
    Ok(table
        .snapshot()?
        .log_data()
        .iter()
        .map(|file| file.path().into_owned())
        .collect())
}

/// `(text, text, count)` rows of a grouped query.
fn triples(batches: &[RecordBatch]) -> Result<Vec<(String, String, u64)>, LakeError> {
    let mut out = Vec::new();
    for batch in batches {
        let first = cast(batch.column(0), &DataType::Utf8)?;
        let second = cast(batch.column(1), &DataType::Utf8)?;
        let (first, second) = (first.as_string::<i32>(), second.as_string::<i32>());
        let n = batch.column(2).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let text = |array: &deltalake::arrow::array::StringArray| {
                if array.is_valid(row) {
                    array.value(row).to_string()
                } else {
                    String::new()
                }
            };
            out.push((
                text(first),
                text(second),
                u64::try_from(n.value(row)).unwrap_or_default(),
            ));
        }
    }
    Ok(out)
}
