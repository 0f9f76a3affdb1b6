//! An event as the api's contract has it (`api/openapi.json`, `Event`), made with its id and time.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// One event. [`Event::new`] gives it a UUIDv7 `event_id` and the current `timestamp`; the
/// builder methods set the optional fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub event_id: Uuid,
    pub event_type: String,
    pub session_id: String,
    pub timestamp: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    /// Campaign attribution; when absent, the api reads each from the `url`'s query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
}

impl Event {
    /// An event of `event_type` (`^[a-z][a-z0-9_]{0,63}$`) in `session_id`, happening now.
    pub fn new(event_type: impl Into<String>, session_id: impl Into<String>) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            session_id: session_id.into(),
            timestamp: Utc::now(),
            event_name: None,
            user_id: None,
            url: None,
            referrer: None,
            title: None,
            value: None,
            properties: Map::new(),
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            utm_term: None,
            utm_content: None,
        }
    }

    /// A `funnel_step`: step `step` (1-based) of `funnel`.
    pub fn funnel_step(funnel: impl Into<String>, step: u32, session_id: impl Into<String>) -> Self {
        Self::new("funnel_step", session_id)
            .property("funnel", funnel.into())
            .property("step", step)
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.event_name = Some(name.into());
        self
    }

    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    pub fn referrer(mut self, referrer: impl Into<String>) -> Self {
        self.referrer = Some(referrer.into());
        self
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn value(mut self, value: f64) -> Self {
        self.value = Some(value);
        self
    }

    /// The campaign the event is attributed to (`utm_source`, `utm_medium`, `utm_campaign`), for
    /// events whose `url` does not carry it (a server-side conversion, an app).
    pub fn campaign(
        mut self,
        source: impl Into<String>,
        medium: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        self.utm_source = Some(source.into());
        self.utm_medium = Some(medium.into());
        self.utm_campaign = Some(name.into());
        self
    }

    pub fn property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_campaign_is_sent_in_the_contracts_utm_fields() {
        let json = serde_json::to_value(Event::new("conversion", "s").campaign("newsletter", "email", "bf"))
            .unwrap();
        assert_eq!(
            (&json["utm_source"], &json["utm_medium"], &json["utm_campaign"]),
            (
                &Value::from("newsletter"),
                &Value::from("email"),
                &Value::from("bf")
            )
        );
        assert!(json.get("utm_term").is_none());
    }

    #[test]
    fn an_event_has_a_v7_id_and_its_time_when_made_and_only_the_fields_set() {
        let before = Utc::now();
        let event = Event::new("click", "s-1")
            .name("buy")
            .value(9.5)
            .property("plan", "pro");
        assert_eq!(event.event_id.get_version_num(), 7);
        assert!(event.timestamp >= before && event.timestamp <= Utc::now());
        let json = serde_json::to_value(&event).expect("an event encodes");
        let keys: std::collections::BTreeSet<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "event_id",
                "event_name",
                "event_type",
                "properties",
                "session_id",
                "timestamp",
                "value"
            ]
            .into()
        );
        assert_eq!(json["properties"]["plan"], "pro");
    }

    #[test]
    fn a_funnel_step_names_its_funnel_and_step() {
        let event = Event::funnel_step("checkout", 2, "s-1");
        assert_eq!(event.event_type, "funnel_step");
        assert_eq!(event.properties["funnel"], "checkout");
        assert_eq!(event.properties["step"], 2);
    }
}
