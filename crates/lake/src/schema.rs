//! The events table's columns (DESIGN.md §8): the event contract plus where each row came from in
//! Kafka, `properties` as a JSON string, partitioned by `event_date`; records become rows and rows
//! become records again.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::error::ArrowError;
use chrono::{DateTime, NaiveDate, Utc};
use lakehouse_event::EnrichedEvent;
use lakehouse_kafka::Record;
use uuid::Uuid;

use crate::error::fold_into_lake_error;

/// The partition column.
pub const PARTITION_COLUMN: &str = "event_date";

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("event_id", false),
        text("project_id", false),
        text("event_type", false),
        text("event_name", true),
        text("session_id", false),
        text("user_id", true),
        text("visitor_id", true),
        Field::new("timestamp", utc_micros(), false),
        Field::new("timestamp_clamped", DataType::Boolean, false),
        Field::new("sent_at", utc_micros(), true),
        Field::new("received_at", utc_micros(), false),
        text("url", true),
        text("host", true),
        text("path", true),
        text("referrer", true),
        text("title", true),
        Field::new("value", DataType::Float64, true),
        text("properties", true),
        text("browser", true),
        text("os", true),
        text("device_type", true),
        text("country", true),
        Field::new("schema_version", DataType::Int16, false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        Field::new("ingested_at", utc_micros(), false),
        Field::new(PARTITION_COLUMN, DataType::Date32, false),
    ]))
});

/// The arrow schema of the events table.
pub fn events_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Days since the Unix epoch, arrow's `Date32`.
fn date32(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// The records as one arrow batch in the table's schema.
pub fn to_record_batch(records: &[Record], ingested_at: DateTime<Utc>) -> Result<RecordBatch, ArrowError> {
    let events = || records.iter().map(|r| &r.event);
    let text = |get: fn(&EnrichedEvent) -> Option<&str>| -> ArrayRef {
        Arc::new(events().map(get).collect::<StringArray>())
    };
    let time = |values: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            events()
                .map(|e| Some(e.event_id.to_string()))
                .collect::<StringArray>(),
        ),
        text(|e| Some(&e.project_id)),
        text(|e| Some(&e.event_type)),
        text(|e| e.event_name.as_deref()),
        text(|e| Some(&e.session_id)),
        text(|e| e.user_id.as_deref()),
        text(|e| e.visitor_id.as_deref()),
        time(events().map(|e| Some(micros(e.timestamp))).collect()),
        Arc::new(
            events()
                .map(|e| Some(e.timestamp_clamped))
                .collect::<BooleanArray>(),
        ),
        time(events().map(|e| e.sent_at.map(micros)).collect()),
        time(events().map(|e| Some(micros(e.received_at))).collect()),
        text(|e| e.url.as_deref()),
        text(|e| e.host.as_deref()),
        text(|e| e.path.as_deref()),
        text(|e| e.referrer.as_deref()),
        text(|e| e.title.as_deref()),
        Arc::new(events().map(|e| e.value).collect::<Float64Array>()),
        Arc::new(
            events()
                .map(|e| {
                    (!e.properties.is_empty())
                        .then(|| serde_json::Value::Object(e.properties.clone()).to_string())
                })
                .collect::<StringArray>(),
        ),
        text(|e| e.browser.as_deref()),
        text(|e| e.os.as_deref()),
        text(|e| e.device_type.as_deref()),
        text(|e| e.country.as_deref()),
        Arc::new(
            events()
                .map(|e| Some(e.schema_version as i16))
                .collect::<Int16Array>(),
        ),
        Arc::new(records.iter().map(|r| Some(r.partition)).collect::<Int32Array>()),
        Arc::new(records.iter().map(|r| Some(r.offset)).collect::<Int64Array>()),
        time(vec![Some(micros(ingested_at)); records.len()]),
        Arc::new(
            events()
                .map(|e| Some(date32(e.event_date())))
                .collect::<Date32Array>(),
        ),
    ];
    RecordBatch::try_new(events_schema(), columns)
}

/// A row of the table that cannot be read back as an event.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("reading the lake: {0}")]
    Arrow(#[from] ArrowError),
    #[error("a lake row cannot be read back as an event: {0}")]
    Invalid(String),
}

fold_into_lake_error!(RowError);

/// An `event_id` as read from the table.
pub(crate) fn parse_event_id(text: Option<&str>) -> Result<Uuid, RowError> {
    let text = text.ok_or_else(|| RowError::Invalid("a null event_id".into()))?;
    text.parse()
        .map_err(|e| RowError::Invalid(format!("event_id {text:?}: {e}")))
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, RowError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| RowError::Invalid(format!("no column {name}")))?;
    Ok(cast(array, to)?)
}

fn text(batch: &RecordBatch, name: &str) -> Result<StringArray, RowError> {
    Ok(column(batch, name, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn times(batch: &RecordBatch, name: &str) -> Result<TimestampMicrosecondArray, RowError> {
    Ok(column(batch, name, &utc_micros())?
        .as_primitive::<TimestampMicrosecondType>()
        .clone())
}

fn optional(array: &StringArray, row: usize) -> Option<String> {
    array.is_valid(row).then(|| array.value(row).to_string())
}

fn time_at(array: &TimestampMicrosecondArray, row: usize) -> Result<Option<DateTime<Utc>>, RowError> {
    if array.is_null(row) {
        return Ok(None);
    }
    DateTime::from_timestamp_micros(array.value(row))
        .map(Some)
        .ok_or_else(|| RowError::Invalid(format!("timestamp {} out of range", array.value(row))))
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, RowError> {
    value.ok_or_else(|| RowError::Invalid(format!("{name} is null")))
}

/// The rows of `batch` (any projection holding the table's columns, as a query returns them) as
/// the records they were written from: the event and the Kafka partition and offset it came from.
pub fn to_records(batch: &RecordBatch) -> Result<Vec<Record>, RowError> {
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
                    return Err(RowError::Invalid(format!(
                        "event {id}: properties are not a JSON object"
                    )));
                }
            },
        };
        let event = EnrichedEvent {
            event_id: parse_event_id(Some(id))?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
    use chrono::TimeZone;
    use lakehouse_event::{EnrichedEvent, SCHEMA_VERSION};

    fn record(offset: i64, value: Option<f64>) -> Record {
        Record {
            event: EnrichedEvent {
                event_id: uuid::Uuid::now_v7(),
                project_id: "shop".into(),
                event_type: "conversion".into(),
                event_name: Some("checkout".into()),
                session_id: "s".into(),
                user_id: None,
                visitor_id: None,
                timestamp: Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
                timestamp_clamped: false,
                sent_at: None,
                received_at: Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 1).unwrap(),
                url: None,
                host: None,
                path: None,
                referrer: None,
                title: None,
                value,
                properties: serde_json::json!({"plan": "pro"}).as_object().unwrap().clone(),
                browser: None,
                os: None,
                device_type: None,
                country: None,
                schema_version: SCHEMA_VERSION,
            },
            partition: 2,
            offset,
        }
    }

    #[test]
    fn every_record_becomes_a_row_in_the_table_schema() {
        let batch = to_record_batch(&[record(7, Some(9.5)), record(8, None)], Utc::now()).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), events_schema());
        let offsets = batch
            .column_by_name("kafka_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(offsets.values().to_vec(), vec![7, 8]);
        let values = batch
            .column_by_name("value")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(values.value(0), 9.5);
        assert!(values.is_null(1));
        let properties = batch.column_by_name("properties").unwrap().as_string::<i32>();
        assert_eq!(properties.value(0), r#"{"plan":"pro"}"#);
        assert_eq!(
            batch
                .column_by_name("event_name")
                .unwrap()
                .as_string::<i32>()
                .value(1),
            "checkout"
        );
    }

    #[test]
    fn event_date_is_the_day_of_the_event_in_days_since_the_epoch() {
        let batch = to_record_batch(&[record(0, None)], Utc::now()).unwrap();
        let dates = batch
            .column_by_name(PARTITION_COLUMN)
            .unwrap()
            .as_primitive::<Date32Type>();
        let expected = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(dates.value_as_date(0), Some(expected));
    }

    #[test]
    fn rows_read_back_as_the_records_they_were_written_from() {
        let mut sent = record(3, None);
        sent.event.sent_at = Some(Utc.with_ymd_and_hms(2026, 11, 23, 7, 59, 59).unwrap());
        sent.event.timestamp_clamped = true;
        let records = vec![record(7, Some(9.5)), sent];
        let batch = to_record_batch(&records, Utc::now()).unwrap();
        assert_eq!(to_records(&batch).unwrap(), records);
        let without_ids = batch.project(&[1, 2, 3]).unwrap();
        let error = to_records(&without_ids).unwrap_err();
        assert!(error.to_string().contains("no column event_id"), "{error}");
    }
}
