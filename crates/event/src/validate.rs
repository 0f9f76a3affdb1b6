//! Validation of one client event (DESIGN.md §5). Every rule reports the wire name of the field it
//! concerns, so that a client can fix exactly what is wrong.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Per-event limits. The request-level limits (body size, batch length) belong to the api.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// The largest event, measured as its compact JSON encoding.
    pub max_event_bytes: usize,
    /// The most top-level keys in `properties`.
    pub max_property_keys: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            max_event_bytes: 32 * 1024,
            max_property_keys: 64,
        }
    }
}

/// One broken rule: the field (a dotted path for nested ones, `event` for the whole object) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub error: String,
}

impl FieldError {
    fn new(field: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            error: error.into(),
        }
    }
}

/// The client fields of an event after validation; optional strings sent as `""` or `null` are
/// absent.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent {
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub event_name: Option<String>,
    pub session_id: String,
    pub user_id: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    pub referrer: Option<String>,
    pub title: Option<String>,
    pub value: Option<f64>,
    pub properties: Map<String, Value>,
    /// Campaign attribution; when absent, the api reads it from the `url`'s query.
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
}

const KNOWN_FIELDS: &[&str] = &[
    "event_id",
    "event_type",
    "event_name",
    "session_id",
    "user_id",
    "timestamp",
    "sent_at",
    "url",
    "referrer",
    "title",
    "value",
    "properties",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];

const MAX_EVENT_TYPE_CHARS: usize = 64;
const MAX_EVENT_NAME_CHARS: usize = 255;
const MAX_SESSION_ID_CHARS: usize = 64;
const MAX_USER_ID_CHARS: usize = 255;
const MAX_URL_CHARS: usize = 2048;
const MAX_TITLE_CHARS: usize = 1024;
/// The most characters a campaign field (`utm_*`) keeps, sent or read from the url.
pub const MAX_UTM_CHARS: usize = 255;

/// A rejection's field as a metric label: a contract field (or `event`, `properties.funnel`,
/// `properties.step`) as it is, anything else (an unknown key a client made up) as `other`, so that
/// clients cannot grow the label set.
pub fn metric_field(field: &str) -> &'static str {
    const NESTED: &[&str] = &["event", "properties.funnel", "properties.step"];
    KNOWN_FIELDS
        .iter()
        .chain(NESTED)
        .find(|known| **known == field)
        .copied()
        .unwrap_or("other")
}

/// Checks one event against the contract, returning every broken rule at once.
pub fn validate_event(value: &Value, limits: &EventLimits) -> Result<ClientEvent, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new("event", "must be a JSON object")]);
    };
    let mut checker = Checker {
        object,
        errors: Vec::new(),
    };

    let size = serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len());
    if size > limits.max_event_bytes {
        checker.fail::<()>(
            "event",
            format!(
                "is {size} bytes, more than the limit of {}",
                limits.max_event_bytes
            ),
        );
    }
    for key in object.keys() {
        if !KNOWN_FIELDS.contains(&key.as_str()) {
            // An empty key is named as written, so that the error still points somewhere.
            let field = if key.is_empty() { "\"\"" } else { key.as_str() };
            checker.fail::<()>(
                field,
                "is not a field of the event contract; put custom data under `properties`",
            );
        }
    }

    let event_id = checker
        .string("event_id")
        .and_then(|raw| match Uuid::parse_str(&raw) {
            Ok(id) => Some(id),
            Err(_) => checker.fail("event_id", "must be a UUID"),
        });
    let event_type = match checker.string("event_type") {
        Some(event_type) if is_event_type(&event_type) => Some(event_type),
        Some(_) => checker.fail("event_type", "must match ^[a-z][a-z0-9_]{0,63}$"),
        None => checker.require("event_type"),
    };
    let event_name = checker.bounded("event_name", MAX_EVENT_NAME_CHARS);
    let session_id = checker
        .bounded("session_id", MAX_SESSION_ID_CHARS)
        .or_else(|| checker.require("session_id"));
    let user_id = checker.bounded("user_id", MAX_USER_ID_CHARS);
    let timestamp = checker.date_time("timestamp");
    let sent_at = checker.date_time("sent_at");
    let url = checker.absolute_url("url");
    let referrer = checker.absolute_url("referrer");
    let title = checker.bounded("title", MAX_TITLE_CHARS);
    let value = match object.get("value") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => number.as_f64(),
        Some(_) => checker.fail("value", "must be a number"),
    };
    let properties = checker.properties(limits.max_property_keys);
    let [utm_source, utm_medium, utm_campaign, utm_term, utm_content] =
        crate::UTM_FIELDS.map(|field| checker.bounded(field, MAX_UTM_CHARS));
    if event_type.as_deref() == Some("funnel_step") {
        checker.funnel(&properties);
    }

    match (checker.errors.is_empty(), event_type, session_id) {
        (true, Some(event_type), Some(session_id)) => Ok(ClientEvent {
            event_id,
            event_type,
            event_name,
            session_id,
            user_id,
            timestamp,
            sent_at,
            url,
            referrer,
            title,
            value,
            properties,
            utm_source,
            utm_medium,
            utm_campaign,
            utm_term,
            utm_content,
        }),
        _ => Err(checker.errors),
    }
}

/// PostgreSQL stores no U+0000 in `text` or `jsonb`: an event holding one would fail every commit
/// of the warehouse's batch, forever, and hold up its partition.
const NUL_ERROR: &str = "must not contain the NUL character (U+0000)";

/// Whether an event's JSON holds U+0000 in any key or string: what the consumers send to the DLQ
/// instead of the warehouse (an event written to Kafka by something other than our api, or before
/// the api refused it). JSON can only carry it escaped, so most payloads are cleared by a scan.
pub fn payload_holds_nul(payload: &[u8]) -> bool {
    payload.windows(6).any(|window| window == b"\\u0000")
        && serde_json::from_slice::<Map<String, Value>>(payload).is_ok_and(|map| holds_nul(&map))
}

/// Whether any key or string in `map`, at any depth, holds U+0000 (iterative: no depth limit).
fn holds_nul(map: &Map<String, Value>) -> bool {
    let nul_key = |map: &Map<String, Value>| map.keys().any(|key| key.contains('\0'));
    if nul_key(map) {
        return true;
    }
    let mut pending: Vec<&Value> = map.values().collect();
    while let Some(value) = pending.pop() {
        match value {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => pending.extend(items),
            Value::Object(map) if nul_key(map) => return true,
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    false
}

/// `^[a-z][a-z0-9_]{0,63}$`, without a regex engine.
fn is_event_type(candidate: &str) -> bool {
    let mut bytes = candidate.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && candidate.len() <= MAX_EVENT_TYPE_CHARS
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

struct Checker<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    /// Records an error; returns `None` so that a failed field reads as absent.
    fn fail<T>(&mut self, field: &str, error: impl Into<String>) -> Option<T> {
        self.errors.push(FieldError::new(field, error));
        None
    }

    /// Records a missing required field unless the field already failed for another reason.
    fn require<T>(&mut self, field: &str) -> Option<T> {
        if !self.errors.iter().any(|e| e.field == field) {
            self.errors.push(FieldError::new(field, "is required"));
        }
        None
    }

    /// An optional string; `null` and `""` read as absent.
    fn string(&mut self, field: &str) -> Option<String> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) if s.contains('\0') => self.fail(field, NUL_ERROR),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => self.fail(field, "must be a string"),
        }
    }

    fn bounded(&mut self, field: &str, max_chars: usize) -> Option<String> {
        let value = self.string(field)?;
        if value.chars().count() > max_chars {
            return self.fail(field, format!("must be at most {max_chars} characters"));
        }
        Some(value)
    }

    fn date_time(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let raw = self.string(field)?;
        match DateTime::parse_from_rfc3339(&raw) {
            Ok(parsed) => Some(parsed.with_timezone(&Utc)),
            Err(_) => self.fail(field, "must be an RFC 3339 date-time, e.g. 2026-11-23T10:00:00Z"),
        }
    }

    /// An absolute URL (`scheme:` followed by something); the api parses host and path from it.
    fn absolute_url(&mut self, field: &str) -> Option<String> {
        let raw = self.bounded(field, MAX_URL_CHARS)?;
        let scheme_ok = raw.split_once(':').is_some_and(|(scheme, rest)| {
            !rest.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if !scheme_ok {
            return self.fail(field, "must be an absolute URL, e.g. https://example.com/page");
        }
        Some(raw)
    }

    fn properties(&mut self, max_keys: usize) -> Map<String, Value> {
        match self.object.get("properties") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) if map.len() > max_keys => {
                self.fail::<()>("properties", format!("must have at most {max_keys} keys"));
                Map::new()
            }
            Some(Value::Object(map)) if holds_nul(map) => {
                self.fail::<()>("properties", format!("{NUL_ERROR}, in any key or string"));
                Map::new()
            }
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                self.fail::<()>("properties", "must be an object");
                Map::new()
            }
        }
    }

    /// `funnel_step` events name their funnel and a 1-based step.
    fn funnel(&mut self, properties: &Map<String, Value>) {
        match properties.get("funnel") {
            Some(Value::String(name)) if !name.is_empty() => {}
            Some(_) => {
                self.fail::<()>("properties.funnel", "must be a non-empty string");
            }
            None => {
                self.fail::<()>("properties.funnel", "is required for funnel_step events");
            }
        }
        match properties.get("step") {
            Some(step) if step.as_u64().is_some_and(|s| s >= 1) => {}
            Some(_) => {
                self.fail::<()>("properties.step", "must be an integer of at least 1");
            }
            None => {
                self.fail::<()>("properties.step", "is required for funnel_step events");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(event: Value) -> Result<ClientEvent, Vec<FieldError>> {
        validate_event(&event, &EventLimits::default())
    }

    /// The single error of an event that breaks exactly one rule.
    fn only_error(event: Value) -> FieldError {
        let errors = check(event).expect_err("the event must be rejected");
        assert_eq!(errors.len(), 1, "expected one error, got {errors:?}");
        errors.into_iter().next().unwrap()
    }

    fn field_of(event: Value) -> String {
        only_error(event).field
    }

    fn minimal() -> Value {
        json!({"event_type": "page_view", "session_id": "s-1"})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut event = minimal();
        event[field] = value;
        event
    }

    #[test]
    fn a_minimal_event_is_valid() {
        let event = check(minimal()).unwrap();
        assert_eq!(event.event_type, "page_view");
        assert_eq!(event.session_id, "s-1");
        assert_eq!(event.event_id, None);
    }

    #[test]
    fn a_full_event_keeps_every_field() {
        let event = check(json!({
            "event_id": "0193a1f2-7b4c-7d8e-9f00-112233445566",
            "event_type": "conversion",
            "event_name": "checkout",
            "session_id": "s-9",
            "user_id": "u-1",
            "timestamp": "2026-11-23T10:00:00+01:00",
            "sent_at": "2026-11-23T09:00:05Z",
            "url": "https://shop.example/cart?x=1",
            "referrer": "https://search.example/",
            "title": "Cart",
            "value": 49.9,
            "properties": {"plan": {"tier": "pro"}}
        }))
        .unwrap();
        assert_eq!(
            event.event_id.unwrap().to_string(),
            "0193a1f2-7b4c-7d8e-9f00-112233445566"
        );
        assert_eq!(event.timestamp.unwrap().to_rfc3339(), "2026-11-23T09:00:00+00:00");
        assert_eq!(event.value, Some(49.9));
        assert_eq!(event.properties["plan"]["tier"], "pro");
        assert_eq!(event.referrer.as_deref(), Some("https://search.example/"));
    }

    #[test]
    fn the_event_must_be_an_object() {
        assert_eq!(field_of(json!(["page_view"])), "event");
    }

    #[test]
    fn event_type_is_required() {
        assert_eq!(
            only_error(json!({"session_id": "s"})),
            FieldError::new("event_type", "is required")
        );
    }

    #[test]
    fn event_type_must_start_with_a_lowercase_letter() {
        assert_eq!(field_of(with("event_type", json!("1click"))), "event_type");
        assert_eq!(field_of(with("event_type", json!("_click"))), "event_type");
    }

    #[test]
    fn event_type_allows_only_lowercase_digits_and_underscores() {
        assert_eq!(field_of(with("event_type", json!("Page_view"))), "event_type");
        assert_eq!(field_of(with("event_type", json!("page-view"))), "event_type");
        assert!(check(with("event_type", json!("step_2_done"))).is_ok());
    }

    #[test]
    fn event_type_is_at_most_64_characters() {
        assert!(check(with("event_type", json!("a".repeat(64)))).is_ok());
        assert_eq!(field_of(with("event_type", json!("a".repeat(65)))), "event_type");
    }

    #[test]
    fn event_type_must_be_a_string() {
        assert_eq!(only_error(with("event_type", json!(7))).error, "must be a string");
    }

    #[test]
    fn event_id_must_be_a_uuid() {
        assert_eq!(field_of(with("event_id", json!("not-a-uuid"))), "event_id");
    }

    #[test]
    fn event_name_is_at_most_255_characters() {
        assert!(check(with("event_name", json!("n".repeat(255)))).is_ok());
        assert_eq!(field_of(with("event_name", json!("n".repeat(256)))), "event_name");
    }

    #[test]
    fn session_id_is_required() {
        assert_eq!(field_of(json!({"event_type": "click"})), "session_id");
        assert_eq!(
            field_of(json!({"event_type": "click", "session_id": ""})),
            "session_id"
        );
    }

    #[test]
    fn session_id_is_at_most_64_characters() {
        assert!(check(with("session_id", json!("s".repeat(64)))).is_ok());
        let error = only_error(with("session_id", json!("s".repeat(65))));
        assert_eq!(
            error,
            FieldError::new("session_id", "must be at most 64 characters")
        );
    }

    #[test]
    fn user_id_is_at_most_255_characters() {
        assert_eq!(field_of(with("user_id", json!("u".repeat(256)))), "user_id");
    }

    #[test]
    fn timestamp_must_be_rfc3339() {
        assert_eq!(field_of(with("timestamp", json!("yesterday"))), "timestamp");
        assert_eq!(field_of(with("timestamp", json!(1_700_000_000))), "timestamp");
    }

    #[test]
    fn sent_at_must_be_rfc3339() {
        assert_eq!(field_of(with("sent_at", json!("2026-11-23 10:00"))), "sent_at");
    }

    #[test]
    fn url_must_be_absolute() {
        assert_eq!(field_of(with("url", json!("/relative/path"))), "url");
        assert!(check(with("url", json!("android-app://com.example/screen"))).is_ok());
    }

    #[test]
    fn referrer_must_be_absolute_but_may_be_empty() {
        assert_eq!(field_of(with("referrer", json!("search engine"))), "referrer");
        assert_eq!(check(with("referrer", json!(""))).unwrap().referrer, None);
    }

    #[test]
    fn campaign_fields_are_kept_and_bounded_like_other_strings() {
        let event = check(with("utm_campaign", json!("black-friday"))).unwrap();
        assert_eq!(event.utm_campaign.as_deref(), Some("black-friday"));
        assert_eq!(event.utm_source, None);
        assert_eq!(field_of(with("utm_source", json!("s".repeat(256)))), "utm_source");
        assert_eq!(field_of(with("utm_term", json!(7))), "utm_term");
        assert_eq!(metric_field("utm_medium"), "utm_medium");
    }

    #[test]
    fn title_is_at_most_1024_characters() {
        assert_eq!(field_of(with("title", json!("t".repeat(1025)))), "title");
    }

    #[test]
    fn value_must_be_a_number() {
        assert_eq!(field_of(with("value", json!("12.5"))), "value");
    }

    #[test]
    fn properties_must_be_an_object() {
        assert_eq!(field_of(with("properties", json!(["a"]))), "properties");
    }

    #[test]
    fn properties_have_at_most_64_keys() {
        let keys = |n: usize| Value::Object((0..n).map(|i| (format!("k{i}"), json!(i))).collect());
        assert!(check(with("properties", keys(64))).is_ok());
        assert_eq!(field_of(with("properties", keys(65))), "properties");
    }

    #[test]
    fn the_property_key_limit_is_configurable() {
        let limits = EventLimits {
            max_property_keys: 1,
            ..EventLimits::default()
        };
        let event = with("properties", json!({"a": 1, "b": 2}));
        assert!(check(event.clone()).is_ok());
        assert!(validate_event(&event, &limits).is_err());
    }

    #[test]
    fn an_event_larger_than_the_limit_is_rejected() {
        let limits = EventLimits {
            max_event_bytes: 100,
            ..EventLimits::default()
        };
        let event = with("title", json!("t".repeat(100)));
        assert!(check(event.clone()).is_ok());
        let errors = validate_event(&event, &limits).unwrap_err();
        assert_eq!(errors[0].field, "event");
    }

    #[test]
    fn payloads_holding_an_escaped_nul_are_found_and_an_escaped_backslash_is_not() {
        assert!(payload_holds_nul(br#"{"session_id": "a\u0000b"}"#));
        assert!(payload_holds_nul(
            br#"{"properties": {"deep": [{"k\u0000": 1}]}}"#
        ));
        assert!(!payload_holds_nul(
            br#"{"title": "a literal \\u0000, not a NUL"}"#
        ));
        assert!(!payload_holds_nul(br#"{"session_id": "plain"}"#));
    }

    #[test]
    fn nul_characters_are_rejected_where_postgresql_would_refuse_them() {
        assert_eq!(field_of(with("session_id", json!("a\u{0}b"))), "session_id");
        assert_eq!(field_of(with("url", json!("https://a.example/\u{0}"))), "url");
        assert_eq!(
            field_of(with("properties", json!({"a": [{"b": "\u{0}"}]}))),
            "properties"
        );
        assert_eq!(
            field_of(with("properties", json!({"a": {"b\u{0}": 1}}))),
            "properties"
        );
        assert_eq!(field_of(with("properties", json!({"\u{0}": 1}))), "properties");
        assert!(check(with("properties", json!({"a": [{"b": "c"}], "d": "\\u0000"}))).is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let error = only_error(with("userId", json!("u-1")));
        assert_eq!(error.field, "userId");
        assert_eq!(
            metric_field("userId"),
            "other",
            "an unknown key is not a metric label"
        );
        assert_eq!(metric_field("session_id"), "session_id");
        let error = only_error(with("", json!(1)));
        assert_eq!(error.field, "\"\"", "an empty key is named, not left blank");
    }

    #[test]
    fn funnel_steps_name_their_funnel() {
        let event = json!({"event_type": "funnel_step", "session_id": "s", "properties": {"step": 1}});
        assert_eq!(field_of(event), "properties.funnel");
    }

    #[test]
    fn funnel_steps_have_a_step_of_at_least_one() {
        let step = |step: Value| json!({"event_type": "funnel_step", "session_id": "s", "properties": {"funnel": "signup", "step": step}});
        assert!(check(step(json!(1))).is_ok());
        assert_eq!(field_of(step(json!(0))), "properties.step");
        assert_eq!(field_of(step(json!(1.5))), "properties.step");
        assert_eq!(
            field_of(json!({"event_type": "funnel_step", "session_id": "s", "properties": {"funnel": "f"}})),
            "properties.step"
        );
    }

    #[test]
    fn other_event_types_need_no_funnel() {
        assert!(check(with("properties", json!({"step": 0}))).is_ok());
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let errors = check(json!({"event_type": "Bad", "value": "x"})).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["event_type", "session_id", "value"]);
    }
}
