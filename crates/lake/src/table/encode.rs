//! Records into rows of the events table: an Arrow batch in the table's schema, or the rows of one
//! data file (its partition column is in its path), and how those files are encoded in Parquet.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Array, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::error::ArrowError;
use chrono::{DateTime, NaiveDate, Utc};
use deltalake::kernel::Add;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use deltalake::parquet::schema::types::ColumnPath;
use lakehouse_event::Record;

use crate::table::file_stats::FileStats;
use crate::table::schema::{PARTITION_COLUMN, events_schema, file_schema};

/// Days since the Unix epoch, arrow's `Date32`.
fn date32(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Columns whose values are (nearly) unique per row: a dictionary would only cost time and
/// memory.
const UNIQUE_COLUMNS: [&str; 5] = ["event_id", "timestamp", "sent_at", "received_at", "kafka_offset"];

/// Encoded values a column buffers before they are compressed into a page: a batch is held
/// compressed but for one such page per column and file.
const PAGE_BYTES: usize = 16 * 1024;

/// Rows per page at most: a dictionary-encoded column buffers 8 bytes per value until its page
/// is written, however small the encoded page is.
const PAGE_ROWS: usize = 1024;

/// The most a column's dictionary grows before its values are written plainly.
const DICTIONARY_BYTES: usize = 128 * 1024;

/// How the writer encodes data files: Snappy, small pages, and no dictionary where values are
/// unique.
pub(crate) fn writer_properties() -> WriterPropertiesBuilder {
    let builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_data_page_size_limit(PAGE_BYTES)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_dictionary_page_size_limit(DICTIONARY_BYTES);
    UNIQUE_COLUMNS.iter().fold(builder, |builder, column| {
        builder.set_column_dictionary_enabled(ColumnPath::from(*column), false)
    })
}

/// The path of a new data file of the `event_date` partition `day` (`YYYY-MM-DD`), relative to
/// the table, named as Spark and delta-rs name theirs.
pub(crate) fn data_file(day: &str) -> String {
    format!(
        "{PARTITION_COLUMN}={day}/part-00000-{}-c000.snappy.parquet",
        uuid::Uuid::new_v4()
    )
}

/// The `add` action of the data file at `path` in partition `day`: its size and statistics;
/// `data_change` false for a file that only holds rows the table held already (a compaction's).
pub(crate) fn add_action(path: String, day: &str, size: usize, stats: &FileStats, data_change: bool) -> Add {
    Add {
        path,
        partition_values: [(PARTITION_COLUMN.to_string(), Some(day.to_string()))].into(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        modification_time: Utc::now().timestamp_millis(),
        data_change,
        stats: Some(stats.to_json()),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
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

/// The builders start empty and grow with the rows (Arrow's `new()` reserves 1 024 rows of each
/// column, about 100 KiB): a writer routing to many tables holds a chunk per table and date, most
/// of them a few rows (DESIGN.md §8.6). After a chunk is finished they start empty again anyway.
impl Default for RowsBuilder {
    fn default() -> Self {
        Self {
            event_id: StringBuilder::with_capacity(0, 0),
            project_id: StringBuilder::with_capacity(0, 0),
            event_type: StringBuilder::with_capacity(0, 0),
            event_name: StringBuilder::with_capacity(0, 0),
            session_id: StringBuilder::with_capacity(0, 0),
            user_id: StringBuilder::with_capacity(0, 0),
            visitor_id: StringBuilder::with_capacity(0, 0),
            timestamp: TimestampMicrosecondBuilder::with_capacity(0),
            timestamp_clamped: BooleanBuilder::with_capacity(0),
            sent_at: TimestampMicrosecondBuilder::with_capacity(0),
            received_at: TimestampMicrosecondBuilder::with_capacity(0),
            url: StringBuilder::with_capacity(0, 0),
            host: StringBuilder::with_capacity(0, 0),
            path: StringBuilder::with_capacity(0, 0),
            referrer: StringBuilder::with_capacity(0, 0),
            title: StringBuilder::with_capacity(0, 0),
            value: Float64Builder::with_capacity(0),
            properties: StringBuilder::with_capacity(0, 0),
            browser: StringBuilder::with_capacity(0, 0),
            os: StringBuilder::with_capacity(0, 0),
            device_type: StringBuilder::with_capacity(0, 0),
            country: StringBuilder::with_capacity(0, 0),
            schema_version: Int16Builder::with_capacity(0),
            kafka_partition: Int32Builder::with_capacity(0),
            kafka_offset: Int64Builder::with_capacity(0),
            ingested_at: TimestampMicrosecondBuilder::with_capacity(0),
            utm: std::array::from_fn(|_| StringBuilder::with_capacity(0, 0)),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
    use chrono::TimeZone;
    use lakehouse_event::{EnrichedEvent, SCHEMA_VERSION};

    /// A record of the reference shape at `offset`.
    pub(crate) fn record(offset: i64, value: Option<f64>) -> Record {
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
}
