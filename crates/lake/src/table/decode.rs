//! Rows of the events table back into records (a rebuild, an export, the writer's deduplication
//! window): read by column name and cast, so that files written before a column existed still read.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};
use lakehouse_event::Record;
use lakehouse_event::{EnrichedEvent, UTM_FIELDS};
use uuid::Uuid;

use crate::error::fold_into_lake_error;
use crate::table::schema::utc_micros;

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

/// A text column a table may lack (one added to the contract after the table was written, read
/// at an older version): all null then.
fn text_or_null(batch: &RecordBatch, name: &str) -> Result<StringArray, RowError> {
    if batch.column_by_name(name).is_none() {
        return Ok(StringArray::new_null(batch.num_rows()));
    }
    text(batch, name)
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
    let [utm_source, utm_medium, utm_campaign, utm_term, utm_content] =
        UTM_FIELDS.map(|name| text_or_null(batch, name));
    let (utm_source, utm_medium, utm_campaign) = (utm_source?, utm_medium?, utm_campaign?);
    let (utm_term, utm_content) = (utm_term?, utm_content?);

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
            utm_source: optional(&utm_source, row),
            utm_medium: optional(&utm_medium, row),
            utm_campaign: optional(&utm_campaign, row),
            utm_term: optional(&utm_term, row),
            utm_content: optional(&utm_content, row),
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
    use crate::table::encode::tests::record;
    use crate::table::encode::to_record_batch;
    use chrono::TimeZone;

    #[test]
    fn rows_read_back_as_the_records_they_were_written_from() {
        let mut sent = record(3, None);
        sent.event.sent_at = Some(Utc.with_ymd_and_hms(2026, 11, 23, 7, 59, 59).unwrap());
        sent.event.timestamp_clamped = true;
        let records = vec![record(7, Some(9.5)), sent];
        let batch = to_record_batch(&records, Utc::now()).unwrap();
        assert_eq!(to_records(&batch).unwrap(), records);
        let without_campaign = batch.project(&(0..27).collect::<Vec<_>>()).unwrap();
        assert!(without_campaign.column_by_name("utm_source").is_none());
        let old = to_records(&without_campaign).unwrap();
        assert_eq!(
            old[0].event.utm_source, None,
            "a row written before version 2 has no campaign"
        );
        assert_eq!(old[0].event.event_id, records[0].event.event_id);
        let without_ids = batch.project(&[1, 2, 3]).unwrap();
        let error = to_records(&without_ids).unwrap_err();
        assert!(error.to_string().contains("no column event_id"), "{error}");
    }
}
