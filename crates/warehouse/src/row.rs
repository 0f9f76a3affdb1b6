//! The `events` row, both ways: the columns a batch writes and their binary `COPY` encoding
//! ([`EventRow`]), and a stored row read back as the event it was ([`StoredEvent`]). One list of
//! columns serves both, so the two cannot drift apart.

use chrono::{DateTime, Utc};
use lakehouse_event::{EnrichedEvent, Record};
use serde_json::Value;
use uuid::Uuid;

use crate::copy::CopyRows;

/// The columns of `events` a batch writes, in the order of [`event_rows`]: what
/// [`crate::schema`] checks the warehouse has, and every column an event is read back from.
pub const EVENT_COLUMNS: [&str; 30] = [
    "event_id",
    "project_id",
    "event_type",
    "event_name",
    "session_id",
    "user_id",
    "visitor_id",
    "timestamp",
    "timestamp_clamped",
    "sent_at",
    "received_at",
    "url",
    "host",
    "path",
    "referrer",
    "title",
    "value",
    "properties",
    "browser",
    "os",
    "device_type",
    "country",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "schema_version",
    "kafka_partition",
    "kafka_offset",
];

/// `columns` as SQL names a statement lists: each quoted, comma-separated.
pub fn column_list(columns: &[&str]) -> String {
    let quoted: Vec<String> = columns.iter().map(|column| format!("\"{column}\"")).collect();
    quoted.join(", ")
}

/// An event and where Kafka held it: one row of `events` to write. Plain data, so that the
/// warehouse needs no Kafka client to be written to.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    pub event: &'a EnrichedEvent,
    pub partition: i32,
    pub offset: i64,
}

impl<'a> From<&'a Record> for EventRow<'a> {
    fn from(record: &'a Record) -> Self {
        Self {
            event: &record.event,
            partition: record.partition,
            offset: record.offset,
        }
    }
}

/// The rows of `events`, in the order of [`EVENT_COLUMNS`].
pub(crate) fn event_rows(rows: &[EventRow<'_>]) -> CopyRows {
    let mut copy = CopyRows::with_capacity(rows.len() * 640);
    for EventRow {
        event: e,
        partition,
        offset,
    } in rows
    {
        copy.row(EVENT_COLUMNS.len() as i16)
            .uuid(&e.event_id)
            .text(&e.project_id)
            .text(&e.event_type)
            .optional_text(e.event_name.as_deref())
            .text(&e.session_id)
            .optional_text(e.user_id.as_deref())
            .optional_text(e.visitor_id.as_deref())
            .timestamptz(&e.timestamp)
            .boolean(e.timestamp_clamped)
            .optional_timestamptz(e.sent_at.as_ref())
            .timestamptz(&e.received_at)
            .optional_text(e.url.as_deref())
            .optional_text(e.host.as_deref())
            .optional_text(e.path.as_deref())
            .optional_text(e.referrer.as_deref())
            .optional_text(e.title.as_deref())
            .optional_float8(e.value)
            .jsonb(&e.properties)
            .optional_text(e.browser.as_deref())
            .optional_text(e.os.as_deref())
            .optional_text(e.device_type.as_deref())
            .optional_text(e.country.as_deref())
            .optional_text(e.utm_source.as_deref())
            .optional_text(e.utm_medium.as_deref())
            .optional_text(e.utm_campaign.as_deref())
            .optional_text(e.utm_term.as_deref())
            .optional_text(e.utm_content.as_deref())
            .int2(i16::try_from(e.schema_version).unwrap_or(i16::MAX))
            .int4(*partition)
            .int8(*offset);
    }
    copy
}

/// A stored row of `events` that is not an event this build can write again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRow(pub String);

/// A row of `events` read back (`SELECT` or `RETURNING` [`EVENT_COLUMNS`]), to be written again.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event: EnrichedEvent,
    pub partition: i32,
    pub offset: i64,
}

impl StoredEvent {
    /// The row to write it again.
    pub fn row(&self) -> EventRow<'_> {
        EventRow {
            event: &self.event,
            partition: self.partition,
            offset: self.offset,
        }
    }
}

/// The columns of [`EVENT_COLUMNS`] as PostgreSQL returns them.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredRow {
    event_id: Uuid,
    project_id: String,
    event_type: String,
    event_name: Option<String>,
    session_id: String,
    user_id: Option<String>,
    visitor_id: Option<String>,
    timestamp: DateTime<Utc>,
    timestamp_clamped: bool,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    url: Option<String>,
    host: Option<String>,
    path: Option<String>,
    referrer: Option<String>,
    title: Option<String>,
    value: Option<f64>,
    properties: Value,
    browser: Option<String>,
    os: Option<String>,
    device_type: Option<String>,
    country: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    utm_term: Option<String>,
    utm_content: Option<String>,
    schema_version: i16,
    kafka_partition: i32,
    kafka_offset: i64,
}

impl TryFrom<StoredRow> for StoredEvent {
    type Error = InvalidRow;

    fn try_from(row: StoredRow) -> Result<Self, InvalidRow> {
        let Value::Object(properties) = row.properties else {
            return Err(InvalidRow(format!(
                "event {}: properties are not an object",
                row.event_id
            )));
        };
        let event = EnrichedEvent {
            event_id: row.event_id,
            project_id: row.project_id,
            event_type: row.event_type,
            event_name: row.event_name,
            session_id: row.session_id,
            user_id: row.user_id,
            visitor_id: row.visitor_id,
            timestamp: row.timestamp,
            timestamp_clamped: row.timestamp_clamped,
            sent_at: row.sent_at,
            received_at: row.received_at,
            url: row.url,
            host: row.host,
            path: row.path,
            referrer: row.referrer,
            title: row.title,
            value: row.value,
            properties,
            browser: row.browser,
            os: row.os,
            device_type: row.device_type,
            country: row.country,
            utm_source: row.utm_source,
            utm_medium: row.utm_medium,
            utm_campaign: row.utm_campaign,
            utm_term: row.utm_term,
            utm_content: row.utm_content,
            schema_version: u16::try_from(row.schema_version)
                .map_err(|_| InvalidRow(format!("schema_version {}", row.schema_version)))?,
        };
        Ok(Self {
            event,
            partition: row.kafka_partition,
            offset: row.kafka_offset,
        })
    }
}
