//! The enriched event: the value of every Kafka message, and the row shape both stores keep.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The contract version this code writes: bumped whenever the enriched shape gains a field
/// (DESIGN.md §5.1). Version 2 added the campaign fields (`utm_*`).
pub const SCHEMA_VERSION: u16 = 2;

/// The oldest contract version this code still reads: every field added since is optional, and
/// absent in its events.
pub const OLDEST_SCHEMA_VERSION: u16 = 1;

/// True when this code knows every field of events of contract `version`: a sink stores no
/// event of a version it does not know, since it would drop the fields it cannot see.
pub fn is_known_version(version: u16) -> bool {
    (OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&version)
}

/// The campaign fields of contract version 2, in the order every store keeps them.
pub const UTM_FIELDS: [&str; 5] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];

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
    /// Campaign attribution (contract version 2): sent by the client, or else read from the
    /// `url`'s query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
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
            utm_source: Some("newsletter".into()),
            utm_medium: None,
            utm_campaign: Some("black-friday".into()),
            utm_term: None,
            utm_content: None,
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
    fn a_version_1_event_reads_without_campaign_fields() {
        let mut v1 = serde_json::to_value(sample()).unwrap();
        let object = v1.as_object_mut().unwrap();
        for field in UTM_FIELDS {
            object.remove(field);
        }
        object.insert("schema_version".into(), 1.into());
        let event: EnrichedEvent = serde_json::from_value(v1).unwrap();
        assert_eq!(
            (event.utm_source, event.utm_campaign, event.schema_version),
            (None, None, 1)
        );
    }

    #[test]
    fn known_versions_are_the_oldest_read_up_to_the_one_written() {
        assert!(!is_known_version(0));
        assert!(is_known_version(1));
        assert!(is_known_version(SCHEMA_VERSION));
        assert!(!is_known_version(SCHEMA_VERSION + 1));
    }

    #[test]
    fn json_round_trip_is_lossless() {
        let event = sample();
        let json = serde_json::to_vec(&event).unwrap();
        let back: EnrichedEvent = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, event);
    }
}
