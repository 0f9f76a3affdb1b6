//! The lake side: the events table at the chosen version, read with DataFusion, as counts per hour
//! and event type (for reconcile) or as the events of a range (for rebuild).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, TimeUnit};
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::prelude::SessionContext;
use lakehouse_delta_writer::{AsOf, LakeArgs, open_at};
use lakehouse_event::EnrichedEvent;
use lakehouse_kafka::Record;

use crate::counts::Counts;
use crate::error::{Result, SyncError};
use crate::range::HourRange;

/// The events table at one version, registered as `events` for SQL.
pub struct LakeSource {
    version: Option<u64>,
    context: SessionContext,
}

impl std::fmt::Debug for LakeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSource")
            .field("version", &self.version)
            .finish()
    }
}

impl LakeSource {
    /// The table at the version `at` selects (the latest when neither is given).
    pub async fn open(lake: &LakeArgs, at: &AsOf) -> Result<Self> {
        let table: DeltaTable = open_at(lake, at).await?;
        let context = SessionContext::new();
        table.update_datafusion_session(&context.state())?;
        context.register_table("events", Arc::clone(&table.table_provider().await?))?;
        Ok(Self {
            version: table.version(),
            context,
        })
    }

    /// The version being read.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Events per hour (of their `timestamp`) and event type in `range`. An `event_id` the lake
    /// holds twice (a client retry outside the writer's deduplication window) counts once, as the
    /// warehouse stores it once.
    pub async fn counts(&self, range: &HourRange) -> Result<Counts> {
        let sql = format!(
            r#"SELECT CAST(date_part('epoch', date_trunc('hour', "timestamp")) AS BIGINT) AS hour,
                      event_type, count(DISTINCT event_id) AS events
               FROM events WHERE {}
               GROUP BY 1, 2"#,
            range_filter(range)
        );
        let batches = self.context.sql(&sql).await?.collect().await?;
        let mut counts = Counts::default();
        for batch in &batches {
            let hours = cast(batch.column(0), &DataType::Int64)?;
            let types = cast(batch.column(1), &DataType::Utf8)?;
            let events = cast(batch.column(2), &DataType::Int64)?;
            let (hours, types, events) = (
                hours.as_primitive::<deltalake::arrow::datatypes::Int64Type>(),
                types.as_string::<i32>(),
                events.as_primitive::<deltalake::arrow::datatypes::Int64Type>(),
            );
            for row in 0..batch.num_rows() {
                let hour = DateTime::from_timestamp(hours.value(row), 0)
                    .ok_or_else(|| SyncError::Row(format!("hour {} out of range", hours.value(row))))?;
                counts.add(hour, types.value(row), events.value(row));
            }
        }
        Ok(counts)
    }

    /// Every event in `range`, as a stream of arrow batches (see [`records`]).
    pub async fn events(&self, range: &HourRange) -> Result<SendableRecordBatchStream> {
        let sql = format!("SELECT * FROM events WHERE {}", range_filter(range));
        Ok(self.context.sql(&sql).await?.execute_stream().await?)
    }
}

/// The SQL condition for `range`: on the partition column first, so that DataFusion reads only
/// the days the range touches, then on the exact timestamps.
fn range_filter(range: &HourRange) -> String {
    let (first, last) = range.days();
    let micros = |t: DateTime<Utc>| t.timestamp_micros();
    format!(
        r#"event_date BETWEEN DATE '{first}' AND DATE '{last}'
           AND CAST("timestamp" AS BIGINT) >= {} AND CAST("timestamp" AS BIGINT) < {}"#,
        micros(range.start),
        micros(range.end)
    )
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| SyncError::Row(format!("no column {name}")))?;
    Ok(cast(array, to)?)
}

fn text(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    Ok(column(batch, name, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn times(batch: &RecordBatch, name: &str) -> Result<TimestampMicrosecondArray> {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Ok(column(batch, name, &utc)?
        .as_primitive::<deltalake::arrow::datatypes::TimestampMicrosecondType>()
        .clone())
}

fn optional(array: &StringArray, row: usize) -> Option<String> {
    array.is_valid(row).then(|| array.value(row).to_string())
}

fn time_at(array: &TimestampMicrosecondArray, row: usize) -> Result<Option<DateTime<Utc>>> {
    if array.is_null(row) {
        return Ok(None);
    }
    DateTime::from_timestamp_micros(array.value(row))
        .map(Some)
        .ok_or_else(|| SyncError::Row(format!("timestamp {} out of range", array.value(row))))
}

fn required<T>(value: Option<T>, name: &str) -> Result<T> {
    value.ok_or_else(|| SyncError::Row(format!("{name} is null")))
}

/// The lake rows of `batch` as the records the stream-processor would have written them from:
/// the event and the Kafka partition and offset it came from.
pub fn records(batch: &RecordBatch) -> Result<Vec<Record>> {
    let [
        event_id,
        project_id,
        event_type,
        event_name,
        session_id,
        user_id,
        visitor_id,
    ] = [
        "event_id",
        "project_id",
        "event_type",
        "event_name",
        "session_id",
        "user_id",
        "visitor_id",
    ]
    .map(|name| text(batch, name));
    let (event_id, project_id, event_type, event_name) = (event_id?, project_id?, event_type?, event_name?);
    let (session_id, user_id, visitor_id) = (session_id?, user_id?, visitor_id?);
    let [
        url,
        host,
        path,
        referrer,
        title,
        properties,
        browser,
        os,
        device_type,
        country,
    ] = [
        "url",
        "host",
        "path",
        "referrer",
        "title",
        "properties",
        "browser",
        "os",
        "device_type",
        "country",
    ]
    .map(|name| text(batch, name));
    let (url, host, path, referrer, title) = (url?, host?, path?, referrer?, title?);
    let (properties, browser, os, device_type, country) =
        (properties?, browser?, os?, device_type?, country?);
    let (timestamp, sent_at, received_at) = (
        times(batch, "timestamp")?,
        times(batch, "sent_at")?,
        times(batch, "received_at")?,
    );
    let clamped = column(batch, "timestamp_clamped", &DataType::Boolean)?;
    let clamped: &BooleanArray = clamped.as_boolean();
    let value = column(batch, "value", &DataType::Float64)?;
    let value: &Float64Array = value.as_primitive();
    let schema_version = column(batch, "schema_version", &DataType::Int16)?;
    let schema_version: &Int16Array = schema_version.as_primitive();
    let partition = column(batch, "kafka_partition", &DataType::Int32)?;
    let partition: &Int32Array = partition.as_primitive();
    let offset = column(batch, "kafka_offset", &DataType::Int64)?;
    let offset: &Int64Array = offset.as_primitive();

    let mut records = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let id = event_id.value(row);
        let properties = match optional(&properties, row) {
            None => serde_json::Map::new(),
            Some(json) => match serde_json::from_str(&json) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => {
                    return Err(SyncError::Row(format!(
                        "event {id}: properties are not a JSON object"
                    )));
                }
            },
        };
        let event = EnrichedEvent {
            event_id: id
                .parse()
                .map_err(|e| SyncError::Row(format!("event_id {id:?}: {e}")))?,
            project_id: project_id.value(row).into(),
            event_type: event_type.value(row).into(),
            event_name: optional(&event_name, row),
            session_id: session_id.value(row).into(),
            user_id: optional(&user_id, row),
            visitor_id: optional(&visitor_id, row),
            timestamp: required(time_at(&timestamp, row)?, "timestamp")?,
            timestamp_clamped: clamped.is_valid(row) && clamped.value(row),
            sent_at: time_at(&sent_at, row)?,
            received_at: required(time_at(&received_at, row)?, "received_at")?,
            url: optional(&url, row),
            host: optional(&host, row),
            path: optional(&path, row),
            referrer: optional(&referrer, row),
            title: optional(&title, row),
            value: value.is_valid(row).then(|| value.value(row)),
            properties,
            browser: optional(&browser, row),
            os: optional(&os, row),
            device_type: optional(&device_type, row),
            country: optional(&country, row),
            schema_version: u16::try_from(schema_version.value(row)).unwrap_or_default(),
        };
        records.push(Record {
            event,
            partition: partition.value(row),
            offset: offset.value(row),
        });
    }
    Ok(records)
}
