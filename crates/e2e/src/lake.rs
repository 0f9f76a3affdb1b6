//! Reading back what the lake holds.

use std::collections::HashMap;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use lakehouse_delta_writer::{EVENTS_TABLE, LakeArgs};
use uuid::Uuid;

/// How many times each `event_id` is in the lake's latest version (an error before the table
/// exists, so that a wait goes on).
pub async fn id_counts(lake: &LakeArgs) -> Result<HashMap<Uuid, i64>, String> {
    let url = lakehouse_delta_writer::table_url(&lake.lake_uri, EVENTS_TABLE).map_err(|e| e.to_string())?;
    let table = lakehouse_delta_writer::open_table(url, lake)
        .await
        .map_err(|e| e.to_string())?;
    if table.version().is_none() {
        return Err("no table yet".into());
    }
    let batches = lakehouse_delta_writer::query(
        &table,
        "SELECT CAST(event_id AS VARCHAR), count(*) FROM events GROUP BY event_id",
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut counts = HashMap::new();
    for batch in batches {
        // DataFusion reads Parquet strings as views; cast to plain strings.
        let ids = cast(batch.column(0), &DataType::Utf8).map_err(|e| e.to_string())?;
        let n = batch.column(1).as_primitive::<Int64Type>();
        for (row, id) in ids.as_string::<i32>().iter().enumerate() {
            let id = id
                .ok_or("a null event_id")?
                .parse()
                .map_err(|_| "an event_id that is not a UUID")?;
            counts.insert(id, n.value(row));
        }
    }
    Ok(counts)
}
