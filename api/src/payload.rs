//! What a request body holds: one event, a JSON array of events, or
//! `{"batch": [...], "sent_at": ...}`.

use serde_json::Value;

use crate::config::RequestLimits;
use crate::error::ApiError;

/// The events of a request, still unvalidated, and the batch's `sent_at` if it had one; as an
/// extractor, read from the request body (see `body.rs`).
#[derive(Debug, PartialEq)]
pub struct Payload {
    pub events: Vec<Value>,
    pub sent_at: Option<Value>,
}

/// Splits a body into its events.
pub fn decode(body: &[u8], limits: &RequestLimits) -> Result<Payload, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| ApiError::MalformedJson {
        line: error.line(),
        column: error.column(),
        message: error.to_string(),
    })?;
    let payload = match value {
        Value::Array(events) => Payload {
            events,
            sent_at: None,
        },
        Value::Object(mut object) if object.contains_key("batch") => {
            let Some(Value::Array(events)) = object.remove("batch") else {
                return Err(ApiError::invalid_body("batch", "must be an array of events"));
            };
            let sent_at = object.remove("sent_at");
            if let Some(extra) = object.keys().next() {
                return Err(ApiError::invalid_body(
                    extra,
                    "is not allowed beside `batch`; only `sent_at` is",
                ));
            }
            Payload { events, sent_at }
        }
        Value::Object(_) => Payload {
            events: vec![value],
            sent_at: None,
        },
        _ => {
            return Err(ApiError::invalid_body(
                "body",
                "must be an event object, an array of events or {\"batch\": [...]}",
            ));
        }
    };
    if payload.events.is_empty() {
        return Err(ApiError::invalid_body("batch", "contains no events"));
    }
    if payload.events.len() > limits.max_batch_events {
        return Err(ApiError::TooManyEvents {
            count: payload.events.len(),
            limit: limits.max_batch_events,
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use crate::test_app::{JSON_KEYED, event, post};
    use axum::http::StatusCode;
    use lakehouse_event::EventLimits;
    use serde_json::json;

    const LIMITS: RequestLimits = RequestLimits {
        max_body_bytes: 1024,
        max_batch_events: 2,
        event: EventLimits {
            max_event_bytes: 1024,
            max_property_keys: 8,
        },
    };

    fn decode_json(value: Value) -> Result<Payload, ApiError> {
        decode(value.to_string().as_bytes(), &LIMITS)
    }

    #[test]
    fn one_event_is_a_batch_of_one() {
        let payload = decode_json(json!({"event_type": "click"})).unwrap();
        assert_eq!(payload.events, vec![json!({"event_type": "click"})]);
    }

    #[test]
    fn an_array_is_a_batch() {
        assert_eq!(decode_json(json!([{"a": 1}, {"b": 2}])).unwrap().events.len(), 2);
    }

    #[test]
    fn an_envelope_carries_the_batch_sent_at() {
        let payload = decode_json(json!({"batch": [{"a": 1}], "sent_at": "2026-11-23T10:00:00Z"})).unwrap();
        assert_eq!(payload.events.len(), 1);
        assert_eq!(payload.sent_at, Some(json!("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let error = decode(b"{\n  \"event_type\": }", &LIMITS).unwrap_err();
        assert!(
            matches!(
                error,
                ApiError::MalformedJson {
                    line: 2,
                    column: 17,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn more_events_than_the_limit_is_too_large() {
        let error = decode_json(json!([{}, {}, {}])).unwrap_err();
        assert!(matches!(error, ApiError::TooManyEvents { count: 3, limit: 2 }));
    }

    #[test]
    fn empty_batches_and_scalars_are_invalid() {
        assert!(matches!(
            decode_json(json!([])),
            Err(ApiError::InvalidBody { .. })
        ));
        assert!(matches!(
            decode_json(json!({"batch": []})),
            Err(ApiError::InvalidBody { .. })
        ));
        assert!(matches!(
            decode_json(json!("click")),
            Err(ApiError::InvalidBody { .. })
        ));
        assert!(matches!(
            decode_json(json!({"batch": {}})),
            Err(ApiError::InvalidBody { .. })
        ));
    }

    #[test]
    fn unknown_envelope_fields_are_named() {
        let Err(ApiError::InvalidBody { field, .. }) = decode_json(json!({"batch": [{}], "api_key": "x"}))
        else {
            panic!("expected an invalid body");
        };
        assert_eq!(field, "api_key");
    }

    #[tokio::test]
    async fn malformed_json_is_400_with_its_position() {
        let sink = MemorySink::default();
        let (status, _, body) = post(&sink, JSON_KEYED, "{\"event_type\": ").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "malformed_json");
        assert_eq!(body["error"]["details"][0]["line"], 1);
    }

    #[tokio::test]
    async fn too_many_events_is_413() {
        let sink = MemorySink::default();
        let body = json!([event("a"), event("b"), event("c"), event("d")]);
        let (status, _, body) = post(&sink, JSON_KEYED, body.to_string()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "too_many_events");
        assert!(sink.events().is_empty());
    }

    /// Any JSON value, nested a few levels, with the contract's field names among its keys so that
    /// validation gets past the envelope often.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("event_type".to_string()),
            Just("session_id".to_string()),
            Just("timestamp".to_string()),
            Just("url".to_string()),
            Just("properties".to_string()),
            Just("step".to_string()),
            Just("batch".to_string()),
            ".{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..8)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// No byte string makes decoding panic; every refusal is a client error.
        #[test]
        fn any_bytes_are_decoded_or_refused_with_a_4xx(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Err(error) = decode(&bytes, &LIMITS) {
                proptest::prop_assert!(error.status().is_client_error(), "{error}");
            }
        }

        /// No JSON value makes decoding or validation panic; whatever decodes stays within limits.
        #[test]
        fn any_json_is_decoded_and_validated_without_panic(value in any_json()) {
            match decode(value.to_string().as_bytes(), &LIMITS) {
                Ok(payload) => {
                    proptest::prop_assert!(!payload.events.is_empty() && payload.events.len() <= LIMITS.max_batch_events);
                    for event in &payload.events {
                        if let Err(errors) = lakehouse_event::validate_event(event, &LIMITS.event) {
                            proptest::prop_assert!(errors.iter().all(|e| !e.field.is_empty()), "every error names its field");
                        }
                    }
                }
                Err(error) => proptest::prop_assert!(error.status().is_client_error(), "{error}"),
            }
        }
    }
}
