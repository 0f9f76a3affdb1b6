//! The statistics a data file's `add` action carries (`numRecords`, `minValues`, `maxValues`,
//! `nullCount`), which readers use to skip files: gathered from each chunk of rows as it is
//! encoded. Bounds are never narrower than the rows: strings longer than 32 characters keep a
//! prefix as their minimum and no maximum, timestamps are widened to whole milliseconds (the
//! precision Delta's statistics carry), booleans and non-finite numbers get no bounds.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{max, max_string, min, min_string};
use arrow::datatypes::{
    DataType, Float64Type, Int16Type, Int32Type, Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use chrono::DateTime;
use serde_json::{Map, Value, json};

/// Characters a string bound keeps.
const STRING_PREFIX: usize = 32;

/// One end of a column's range.
#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Int(i64),
    Float(f64),
    Text(String),
    Micros(i64),
}

impl Bound {
    fn below(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) | (Self::Micros(a), Self::Micros(b)) => a < b,
            (Self::Float(a), Self::Float(b)) => a < b,
            (Self::Text(a), Self::Text(b)) => a < b,
            _ => false,
        }
    }

    fn json(&self, is_max: bool) -> Value {
        match self {
            Self::Int(v) => json!(v),
            Self::Float(v) => json!(v),
            Self::Text(v) => json!(v),
            Self::Micros(v) => {
                let millis = if is_max {
                    v.div_euclid(1000) + i64::from(v.rem_euclid(1000) != 0)
                } else {
                    v.div_euclid(1000)
                };
                let time = DateTime::from_timestamp_millis(millis).unwrap_or_default();
                json!(time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            }
        }
    }
}

/// What is known of one column across the file's rows.
#[derive(Debug, Clone, Default)]
struct ColumnStats {
    nulls: i64,
    min: Option<Bound>,
    max: Option<Bound>,
    /// A chunk's bounds could not be expressed: the file gets none for this side.
    no_min: bool,
    no_max: bool,
}

impl ColumnStats {
    fn widen(&mut self, low: Option<Bound>, high: Option<Bound>, rows: usize, nulls: usize) {
        self.nulls += nulls as i64;
        if rows == nulls {
            return; // nothing but nulls: no bounds to widen
        }
        match low {
            None => self.no_min = true,
            Some(low) if self.min.as_ref().is_none_or(|min| low.below(min)) => self.min = Some(low),
            Some(_) => {}
        }
        match high {
            None => self.no_max = true,
            Some(high) if self.max.as_ref().is_none_or(|max| max.below(&high)) => self.max = Some(high),
            Some(_) => {}
        }
    }
}

/// The statistics of one data file, as its rows are encoded.
#[derive(Debug, Clone)]
pub(crate) struct FileStats {
    schema: SchemaRef,
    records: i64,
    columns: Vec<ColumnStats>,
}

impl FileStats {
    pub(crate) fn new(schema: SchemaRef) -> Self {
        let columns = vec![ColumnStats::default(); schema.fields().len()];
        Self {
            schema,
            records: 0,
            columns,
        }
    }

    /// Takes in a chunk of the file's rows.
    pub(crate) fn add(&mut self, batch: &RecordBatch) {
        self.records += batch.num_rows() as i64;
        for (stats, array) in self.columns.iter_mut().zip(batch.columns()) {
            let (low, high) = bounds(array.as_ref());
            stats.widen(low, high, array.len(), array.null_count());
        }
    }

    /// The `stats` of the file's `add` action.
    pub(crate) fn to_json(&self) -> String {
        let (mut mins, mut maxes, mut nulls) = (Map::new(), Map::new(), Map::new());
        for (field, stats) in self.schema.fields().iter().zip(&self.columns) {
            let name = field.name().clone();
            nulls.insert(name.clone(), json!(stats.nulls));
            if let (Some(min), false) = (&stats.min, stats.no_min) {
                mins.insert(name.clone(), min.json(false));
            }
            if let (Some(max), false) = (&stats.max, stats.no_max) {
                maxes.insert(name, max.json(true));
            }
        }
        json!({
            "numRecords": self.records,
            "minValues": mins,
            "maxValues": maxes,
            "nullCount": nulls,
        })
        .to_string()
    }
}

/// A chunk's bounds for one column; `None` for a side that cannot be told.
fn bounds(array: &dyn Array) -> (Option<Bound>, Option<Bound>) {
    match array.data_type() {
        DataType::Utf8 => {
            let strings = array.as_string::<i32>();
            let low = min_string(strings).map(|s| Bound::Text(s.chars().take(STRING_PREFIX).collect()));
            let high = max_string(strings)
                .filter(|s| s.chars().nth(STRING_PREFIX).is_none())
                .map(|s| Bound::Text(s.into()));
            (low, high)
        }
        DataType::Int16 => {
            let values = array.as_primitive::<Int16Type>();
            (
                min(values).map(|v| Bound::Int(v.into())),
                max(values).map(|v| Bound::Int(v.into())),
            )
        }
        DataType::Int32 => {
            let values = array.as_primitive::<Int32Type>();
            (
                min(values).map(|v| Bound::Int(v.into())),
                max(values).map(|v| Bound::Int(v.into())),
            )
        }
        DataType::Int64 => {
            let values = array.as_primitive::<Int64Type>();
            (min(values).map(Bound::Int), max(values).map(Bound::Int))
        }
        DataType::Float64 => {
            let values = array.as_primitive::<Float64Type>();
            let finite = values.iter().flatten().all(f64::is_finite);
            if !finite {
                return (None, None);
            }
            (min(values).map(Bound::Float), max(values).map(Bound::Float))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let values = array.as_primitive::<TimestampMicrosecondType>();
            (min(values).map(Bound::Micros), max(values).map(Bound::Micros))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int32Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("b", DataType::Boolean, false),
            Field::new("f", DataType::Float64, true),
        ]))
    }

    fn chunk(n: Vec<Option<i32>>, s: Vec<Option<&str>>, t: Vec<i64>, f: Vec<Option<f64>>) -> RecordBatch {
        let b = BooleanArray::from(vec![true; t.len()]);
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int32Array::from(n)),
                Arc::new(StringArray::from(s)),
                Arc::new(TimestampMicrosecondArray::from(t).with_timezone("UTC")),
                Arc::new(b),
                Arc::new(Float64Array::from(f)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn bounds_widen_across_chunks_and_never_narrow_the_rows() {
        let mut stats = FileStats::new(schema());
        stats.add(&chunk(
            vec![Some(3), None],
            vec![Some("b"), Some("a")],
            vec![1_500, 2_000],
            vec![Some(1.5), None],
        ));
        let long = "x".repeat(40);
        stats.add(&chunk(
            vec![Some(-1), Some(7)],
            vec![None, Some(&long)],
            vec![999, 2_001],
            vec![Some(f64::NAN), Some(0.5)],
        ));
        let stats: Value = serde_json::from_str(&stats.to_json()).unwrap();
        assert_eq!(stats["numRecords"], 4);
        assert_eq!(stats["minValues"]["n"], -1);
        assert_eq!(stats["maxValues"]["n"], 7);
        assert_eq!(stats["nullCount"]["n"], 1);
        assert_eq!(stats["minValues"]["s"], "a");
        assert!(
            stats["maxValues"].get("s").is_none(),
            "a 40-character maximum cannot be cut"
        );
        assert_eq!(stats["nullCount"]["s"], 1);
        // 999 µs and 2 001 µs: the bounds are whole milliseconds around them.
        assert_eq!(stats["minValues"]["t"], "1970-01-01T00:00:00.000Z");
        assert_eq!(stats["maxValues"]["t"], "1970-01-01T00:00:00.003Z");
        assert!(stats["minValues"].get("b").is_none());
        assert_eq!(stats["nullCount"]["b"], 0);
        assert!(
            stats["minValues"].get("f").is_none(),
            "NaN has no place in a range"
        );
        assert!(stats["maxValues"].get("f").is_none());
    }
}
