//! How every listing is printed (`--output table|json|csv`): a listing is a sequence of items that
//! know their columns ([`Listing`]); a table aligns them, CSV quotes them with a header line, and
//! JSON prints each item whole, one object per line, so that `jq` and scripts read any listing
//! the same way.

use serde::Serialize;

use crate::args::Output;

/// An item of a listing: its columns for a table or CSV (JSON prints the item whole).
pub trait Listing: Serialize {
    /// The header, one name per column.
    const COLUMNS: &'static [&'static str];
    /// The item's cells, one per column, as text.
    fn cells(&self) -> Vec<String>;
}

/// The items as `output` says, ending with a newline unless there is nothing to print in JSON.
pub fn render<T: Listing>(items: &[T], output: Output) -> Result<String, OutputError> {
    match output {
        Output::Table => Ok(table(T::COLUMNS, items.iter().map(Listing::cells))),
        Output::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(T::COLUMNS)?;
            for item in items {
                writer.write_record(item.cells())?;
            }
            let bytes = writer
                .into_inner()
                .map_err(|error| OutputError::Csv(error.into_error().into()))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        Output::Json => {
            let mut out = String::new();
            for item in items {
                out.push_str(&serde_json::to_string(item)?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// Rows of cells aligned under `columns`, two spaces apart; the last column is not padded.
pub fn table(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(columns.iter().map(|c| (*c).to_string()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; columns.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if index + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A time as listings print it: RFC 3339 to the second, UTC.
pub fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Item {
        name: &'static str,
        note: &'static str,
    }

    impl Listing for Item {
        const COLUMNS: &'static [&'static str] = &["name", "note"];
        fn cells(&self) -> Vec<String> {
            vec![self.name.into(), self.note.into()]
        }
    }

    const ITEMS: &[Item] = &[
        Item {
            name: "a",
            note: "plain",
        },
        Item {
            name: "longer",
            note: "with, a \"comma\"",
        },
    ];

    #[test]
    fn a_table_aligns_its_columns() {
        assert_eq!(
            render(ITEMS, Output::Table).unwrap(),
            "name    note\na       plain\nlonger  with, a \"comma\"\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(
            render(ITEMS, Output::Csv).unwrap(),
            "name,note\na,plain\nlonger,\"with, a \"\"comma\"\"\"\n"
        );
    }

    #[test]
    fn json_prints_one_object_per_line() {
        let text = render(ITEMS, Output::Json).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["note"], "with, a \"comma\"");
    }
}
