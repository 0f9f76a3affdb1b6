//! A query's result as charts when it has the shape of one: one label column (text, a date, a
//! time: anything that is not a number) and one or two numeric columns. Each numeric column gets
//! a chart of its own, on its own scale (events and revenue differ by orders of magnitude),
//! labelled by the label column: columns when the labels are dates or times or many, horizontal
//! bars otherwise. A result of any other shape, or without rows, gets no chart.

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Float64Type, Schema};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use maud::{Markup, html};

use crate::chart;

/// Rows charted: the first ones (the table below shows every row fetched).
const CHART_ROWS: usize = 200;
/// Up to this many labels are drawn as horizontal bars, more as columns.
const MAX_BARS: usize = 30;

/// The charts of a result, or `None` when it does not have the shape of one.
pub fn charts(schema: &Schema, batches: &[RecordBatch]) -> Option<Markup> {
    let (labels_at, values_at) = shape(schema)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return None;
    }
    let shown = rows.min(CHART_ROWS);
    let labels = labels(batches, labels_at, shown);
    let label_name = schema.field(labels_at).name();
    let as_columns = shown > MAX_BARS
        || matches!(
            schema.field(labels_at).data_type(),
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        );
    let note = (shown < rows).then(|| format!(" (the first {shown} rows of {rows})"));
    Some(html! {
        div.charts #result-charts {
            @for at in values_at {
                @let caption = format!("{} by {label_name}", schema.field(at).name());
                @let points: Vec<(String, f64)> = labels.iter().cloned().zip(values(batches, at, shown)).collect();
                @if as_columns {
                    (chart::value_columns(&caption, &points, note.as_deref()))
                } @else {
                    (chart::value_bars(&caption, &points, note.as_deref()))
                }
            }
        }
    })
}

/// Where the one label column and the one or two numeric columns are, if that is the shape.
fn shape(schema: &Schema) -> Option<(usize, Vec<usize>)> {
    let (numeric, other): (Vec<usize>, Vec<usize>) =
        (0..schema.fields().len()).partition(|&at| schema.field(at).data_type().is_numeric());
    match (other.as_slice(), numeric.len()) {
        ([label], 1 | 2) => Some((*label, numeric)),
        _ => None,
    }
}

/// The first `rows` labels of column `at`, as the table writes them (`NULL` for a null).
fn labels(batches: &[RecordBatch], at: usize, rows: usize) -> Vec<String> {
    let options = FormatOptions::default();
    let mut labels = Vec::with_capacity(rows);
    for batch in batches {
        let column = batch.column(at);
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options).ok();
        for row in 0..batch.num_rows() {
            if labels.len() == rows {
                return labels;
            }
            labels.push(match &formatter {
                Some(formatter) if column.is_valid(row) => formatter.value(row).to_string(),
                _ => "NULL".to_string(),
            });
        }
    }
    labels
}

/// The first `rows` values of numeric column `at` (NaN for a null: no bar).
fn values(batches: &[RecordBatch], at: usize, rows: usize) -> Vec<f64> {
    let mut values = Vec::with_capacity(rows);
    for batch in batches {
        let Ok(column) = cast(batch.column(at), &DataType::Float64) else {
            values.extend(std::iter::repeat_n(f64::NAN, batch.num_rows()));
            continue;
        };
        let column = column.as_primitive::<Float64Type>();
        values.extend((0..column.len()).map(|row| {
            if column.is_valid(row) {
                column.value(row)
            } else {
                f64::NAN
            }
        }));
    }
    values.truncate(rows);
    values
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Date32Array, Float64Array, Int64Array, StringArray};
    use deltalake::arrow::datatypes::Field;

    use super::*;

    fn batch(columns: Vec<(&str, Arc<dyn Array>)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).expect("a batch")
    }

    #[test]
    fn one_label_and_two_numbers_make_two_charts() {
        let result = batch(vec![
            ("event_date", Arc::new(Date32Array::from(vec![20_000, 20_001]))),
            ("events", Arc::new(Int64Array::from(vec![Some(5), None]))),
            ("revenue", Arc::new(Float64Array::from(vec![12.5, -3.0]))),
        ]);
        let html = charts(&result.schema(), std::slice::from_ref(&result))
            .expect("a chart")
            .into_string();
        assert_eq!(html.matches("<svg").count(), 2, "{html}");
        assert!(html.contains("events by event_date") && html.contains("revenue by event_date"));
        assert!(
            html.contains("2024-10-04: 5") && html.contains("2024-10-05: -3"),
            "{html}"
        );
        // The null count has no bar: three bars for four values.
        assert_eq!(html.matches("<rect").count(), 3, "{html}");
    }

    #[test]
    fn other_shapes_make_none() {
        let text = |name| (name, Arc::new(StringArray::from(vec!["a"])) as Arc<dyn Array>);
        let n = |name| (name, Arc::new(Int64Array::from(vec![1])) as Arc<dyn Array>);
        for columns in [
            vec![n("n")],
            vec![text("a"), text("b"), n("n")],
            vec![text("a")],
            vec![n("a"), n("b")],
            vec![text("a"), n("b"), n("c"), n("d")],
        ] {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let result = batch(columns);
            assert!(
                charts(&result.schema(), std::slice::from_ref(&result)).is_none(),
                "{names:?}"
            );
        }
        let empty = Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]);
        assert!(charts(&empty, &[]).is_none(), "no rows, no chart");
    }

    #[test]
    fn many_rows_chart_the_first_ones_as_columns() {
        let labels: Vec<String> = (0..250).map(|i| format!("label-{i}")).collect();
        let result = batch(vec![
            ("label", Arc::new(StringArray::from(labels))),
            ("n", Arc::new(Int64Array::from((0..250).collect::<Vec<i64>>()))),
        ]);
        let html = charts(&result.schema(), std::slice::from_ref(&result))
            .expect("a chart")
            .into_string();
        assert_eq!(
            html.matches("<rect").count(),
            CHART_ROWS,
            "column 0 is zero high, but drawn"
        );
        assert!(html.contains("(the first 200 rows of 250)"), "{html}");
        assert!(
            html.contains("label-199: 199") && !html.contains("label-200:"),
            "{html}"
        );
    }
}
