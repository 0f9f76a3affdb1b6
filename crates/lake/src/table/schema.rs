//! The events table's columns (DESIGN.md §8): the event contract plus where each row came from in
//! Kafka, `properties` as a JSON string, partitioned by `event_date`. Records become rows in
//! [`crate::table::encode`] and rows become records again in [`crate::table::decode`].

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use lakehouse_event::UTM_FIELDS;

/// The partition column.
pub const PARTITION_COLUMN: &str = "event_date";
/// The Kafka partition a row was read from.
pub(crate) const KAFKA_PARTITION: &str = "kafka_partition";
/// When the API received the event: the arrival time that freshness and deduplication go by.
pub const RECEIVED_AT: &str = "received_at";

/// The type of every time column: microseconds, UTC.
pub(crate) fn utc_micros() -> DataType {
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
        Field::new(KAFKA_PARTITION, DataType::Int32, false),
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
