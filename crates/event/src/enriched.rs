//! The enriched event: the value of every Kafka message, and the row shape both stores keep.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Bumped when the enriched shape changes incompatibly; consumers read it from the `schema_version`
/// header and field.
pub const SCHEMA_VERSION: u16 = 1;

/// An event as the api produces it to Kafka: the validated client fields plus the server fields.
///
/// The raw client IP is deliberately absent: it never leaves the api.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedEvent {
    pub event_id: Uuid,
    pub project_id: String,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    /// When the event happened, corrected for client clock skew.
    pub timestamp: DateTime<Utc>,
    /// True when the client's time was more than the allowed skew in the future and was replaced by
    /// `received_at`.
    #[serde(default)]
    pub timestamp_clamped: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub schema_version: u16,
}

impl EnrichedEvent {
    /// The Kafka message key: all events of one session land in one partition, in order.
    pub fn kafka_key(&self) -> String {
        format!("{}:{}", self.project_id, self.session_id)
    }

    /// The UTC day of the event: the lake's partition column.
    pub fn event_date(&self) -> NaiveDate {
        self.timestamp.date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> EnrichedEvent {
        EnrichedEvent {
            event_id: Uuid::nil(),
            project_id: "shop".into(),
            event_type: "page_view".into(),
            event_name: None,
            session_id: "s-1".into(),
            user_id: None,
            visitor_id: None,
            timestamp: Utc.with_ymd_and_hms(2026, 11, 23, 23, 59, 59).unwrap(),
            timestamp_clamped: false,
            sent_at: None,
            received_at: Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 1).unwrap(),
            url: None,
            host: None,
            path: None,
            referrer: None,
            title: None,
            value: Some(9.5),
            properties: Map::new(),
            browser: None,
            os: None,
            device_type: None,
            country: None,
            schema_version: SCHEMA_VERSION,
        }
    }

    #[test]
    fn key_keeps_a_session_together_per_project() {
        assert_eq!(sample().kafka_key(), "shop:s-1");
    }

    #[test]
    fn event_date_is_the_utc_day_of_the_corrected_timestamp_not_of_receipt() {
        assert_eq!(
            sample().event_date(),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
    }

    #[test]
    fn json_round_trip_is_lossless() {
        let event = sample();
        let json = serde_json::to_vec(&event).unwrap();
        let back: EnrichedEvent = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, event);
    }
}
