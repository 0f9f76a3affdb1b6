//! The events table's columns (DESIGN.md §8): the event contract plus where each row came from in
//! Kafka, `properties` as a JSON string, partitioned by `event_date`; records become rows and rows
//! become records again.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Date32Array, Float64Array, Float64Builder,
    Int16Array, Int16Builder, Int32Array, Int32Builder, Int64Array, Int64Builder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::error::ArrowError;
use chrono::{DateTime, NaiveDate, Utc};
use lakehouse_event::Record;
use lakehouse_event::{EnrichedEvent, UTM_FIELDS};
use uuid::Uuid;

use crate::error::fold_into_lake_error;

/// The partition column.
pub const PARTITION_COLUMN: &str = "event_date";
/// When the API received the event: the arrival time that freshness and deduplication go by.
pub const RECEIVED_AT: &str = "received_at";

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
        Field::new(RECEIVED_AT, utc_micros(), false),
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
        // Contract version 2. Columns a table gains come after all others, so they are last in
        // a new table too: a table created now and one evolved from version 1 have one schema.
        text(UTM_FIELDS[0], true),
        text(UTM_FIELDS[1], true),
        text(UTM_FIELDS[2], true),
        text(UTM_FIELDS[3], true),
        text(UTM_FIELDS[4], true),
    ]))
});

/// The arrow schema of the events table.
pub fn events_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The columns of a data file: every column of the table but the partition column, whose value
/// is in the file's path.
pub(crate) fn file_schema() -> SchemaRef {
    static FILE: LazyLock<SchemaRef> = LazyLock::new(|| {
        let fields: Vec<Field> = SCHEMA
            .fields()
            .iter()
            .filter(|field| field.name() != PARTITION_COLUMN)
            .map(|field| field.as_ref().clone())
            .collect();
        Arc::new(Schema::new(fields))
    });
    FILE.clone()
}

/// Days since the Unix epoch, arrow's `Date32`.
pub(crate) fn date32(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// Rows of a data file (see [`file_schema`]), appended one record at a time.
#[derive(Debug)]
pub(crate) struct RowsBuilder {
    event_id: StringBuilder,
    project_id: StringBuilder,
    event_type: StringBuilder,
    event_name: StringBuilder,
    session_id: StringBuilder,
    user_id: StringBuilder,
    visitor_id: StringBuilder,
    timestamp: TimestampMicrosecondBuilder,
    timestamp_clamped: BooleanBuilder,
    sent_at: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    url: StringBuilder,
    host: StringBuilder,
    path: StringBuilder,
    referrer: StringBuilder,
    title: StringBuilder,
    value: Float64Builder,
    properties: StringBuilder,
    browser: StringBuilder,
    os: StringBuilder,
    device_type: StringBuilder,
    country: StringBuilder,
    schema_version: Int16Builder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
    ingested_at: TimestampMicrosecondBuilder,
    utm: [StringBuilder; 5],
    /// The properties of one event as JSON, written here before they are appended.
    json: Vec<u8>,
    rows: usize,
    text_bytes: usize,
}

impl Default for RowsBuilder {
    fn default() -> Self {
        Self {
            event_id: StringBuilder::new(),
            project_id: StringBuilder::new(),
            event_type: StringBuilder::new(),
            event_name: StringBuilder::new(),
            session_id: StringBuilder::new(),
            user_id: StringBuilder::new(),
            visitor_id: StringBuilder::new(),
            timestamp: TimestampMicrosecondBuilder::new(),
            timestamp_clamped: BooleanBuilder::new(),
            sent_at: TimestampMicrosecondBuilder::new(),
            received_at: TimestampMicrosecondBuilder::new(),
            url: StringBuilder::new(),
            host: StringBuilder::new(),
            path: StringBuilder::new(),
            referrer: StringBuilder::new(),
            title: StringBuilder::new(),
            value: Float64Builder::new(),
            properties: StringBuilder::new(),
            browser: StringBuilder::new(),
            os: StringBuilder::new(),
            device_type: StringBuilder::new(),
            country: StringBuilder::new(),
            schema_version: Int16Builder::new(),
            kafka_partition: Int32Builder::new(),
            kafka_offset: Int64Builder::new(),
            ingested_at: TimestampMicrosecondBuilder::new(),
            utm: std::array::from_fn(|_| StringBuilder::new()),
            json: Vec::new(),
            rows: 0,
            text_bytes: 0,
        }
    }
}

/// Bytes of a row's fixed-width columns in the builders: ten timestamps, numbers and offsets of
/// 8 bytes, twenty-two string offsets of 4, and a few small ones.
const FIXED_ROW_BYTES: usize = 10 * 8 + 22 * 4 + 8;

impl RowsBuilder {
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// The memory the rows take in the builders (their values; the builders' spare capacity
    /// aside).
    pub(crate) fn bytes(&self) -> usize {
        self.text_bytes + self.rows * FIXED_ROW_BYTES
    }

    fn text(builder: &mut StringBuilder, bytes: &mut usize, value: Option<&str>) {
        *bytes += value.map_or(0, str::len);
        builder.append_option(value);
    }

    pub(crate) fn append(&mut self, record: &Record, ingested_at: DateTime<Utc>) {
        let e = &record.event;
        let bytes = &mut self.text_bytes;
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        Self::text(
            &mut self.event_id,
            bytes,
            Some(e.event_id.hyphenated().encode_lower(&mut id)),
        );
        Self::text(&mut self.project_id, bytes, Some(&e.project_id));
        Self::text(&mut self.event_type, bytes, Some(&e.event_type));
        Self::text(&mut self.event_name, bytes, e.event_name.as_deref());
        Self::text(&mut self.session_id, bytes, Some(&e.session_id));
        Self::text(&mut self.user_id, bytes, e.user_id.as_deref());
        Self::text(&mut self.visitor_id, bytes, e.visitor_id.as_deref());
        self.timestamp.append_value(micros(e.timestamp));
        self.timestamp_clamped.append_value(e.timestamp_clamped);
        self.sent_at.append_option(e.sent_at.map(micros));
        self.received_at.append_value(micros(e.received_at));
        Self::text(&mut self.url, bytes, e.url.as_deref());
        Self::text(&mut self.host, bytes, e.host.as_deref());
        Self::text(&mut self.path, bytes, e.path.as_deref());
        Self::text(&mut self.referrer, bytes, e.referrer.as_deref());
        Self::text(&mut self.title, bytes, e.title.as_deref());
        self.value.append_option(e.value);
        if e.properties.is_empty() {
            self.properties.append_null();
        } else {
            self.json.clear();
            // A map of JSON values always serialises.
            let _ = serde_json::to_writer(&mut self.json, &e.properties);
            let json = std::str::from_utf8(&self.json).unwrap_or_default();
            Self::text(&mut self.properties, bytes, Some(json));
        }
        Self::text(&mut self.browser, bytes, e.browser.as_deref());
        Self::text(&mut self.os, bytes, e.os.as_deref());
        Self::text(&mut self.device_type, bytes, e.device_type.as_deref());
        Self::text(&mut self.country, bytes, e.country.as_deref());
        self.schema_version.append_value(e.schema_version as i16);
        self.kafka_partition.append_value(record.partition);
        self.kafka_offset.append_value(record.offset);
        self.ingested_at.append_value(micros(ingested_at));
        let utm = [
            &e.utm_source,
            &e.utm_medium,
            &e.utm_campaign,
            &e.utm_term,
            &e.utm_content,
        ];
        for (builder, value) in self.utm.iter_mut().zip(utm) {
            Self::text(builder, bytes, value.as_deref());
        }
        self.rows += 1;
    }

    /// The rows appended since the last call, in the [`file_schema`]; the builder is empty after.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let utc = |builder: &mut TimestampMicrosecondBuilder| -> ArrayRef {
            Arc::new(builder.finish().with_timezone("UTC"))
        };
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.project_id.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.session_id.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.visitor_id.finish()),
            utc(&mut self.timestamp),
            Arc::new(self.timestamp_clamped.finish()),
            utc(&mut self.sent_at),
            utc(&mut self.received_at),
            Arc::new(self.url.finish()),
            Arc::new(self.host.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.referrer.finish()),
            Arc::new(self.title.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.properties.finish()),
            Arc::new(self.browser.finish()),
            Arc::new(self.os.finish()),
            Arc::new(self.device_type.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.schema_version.finish()),
            Arc::new(self.kafka_partition.finish()),
            Arc::new(self.kafka_offset.finish()),
            utc(&mut self.ingested_at),
        ];
        for builder in &mut self.utm {
            columns.push(Arc::new(builder.finish()));
        }
        self.rows = 0;
        self.text_bytes = 0;
        RecordBatch::try_new(file_schema(), columns)
    }
}

/// The records as one arrow batch in the table's schema.
pub fn to_record_batch(records: &[Record], ingested_at: DateTime<Utc>) -> Result<RecordBatch, ArrowError> {
    let mut rows = RowsBuilder::default();
    for record in records {
        rows.append(record, ingested_at);
    }
    let file = rows.finish()?;
    let dates: ArrayRef = Arc::new(
        records
            .iter()
            .map(|r| Some(date32(r.event.event_date())))
            .collect::<Date32Array>(),
    );
    let columns = events_schema()
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            PARTITION_COLUMN => Ok(dates.clone()),
            name => file
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
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
                utm_source: Some("newsletter".into()),
                utm_medium: None,
                utm_campaign: Some("black-friday".into()),
                utm_term: None,
                utm_content: None,
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
