//! The HTTP surface: `POST /analytics` plus the operational endpoints.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use lakehouse_event::validate_event;
use lakehouse_telemetry::Health;
use lakehouse_telemetry::metrics as names;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};

use crate::body::{self, RequestLimits};
use crate::enrich::{RequestContext, enrich};
use crate::error::{ApiError, Rejection};
use crate::keys::ApiKeys;
use crate::sink::EventSink;

/// What every request handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    keys: Arc<ApiKeys>,
    sink: Arc<dyn EventSink>,
    limits: RequestLimits,
    health: Health,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(keys: ApiKeys, sink: Arc<dyn EventSink>, limits: RequestLimits, health: Health) -> Self {
        Self {
            keys: Arc::new(keys),
            sink,
            limits,
            health,
        }
    }
}

/// The whole router, ready to serve or to test with `oneshot`.
pub fn app(state: AppState, metrics: PrometheusHandle) -> Router {
    let ops = lakehouse_telemetry::ops_router(state.health.clone(), metrics);
    Router::new()
        .route("/analytics", post(ingest))
        .with_state(state)
        .merge(ops)
}

async fn ingest(State(state): State<AppState>, request: Request) -> Result<impl IntoResponse, ApiError> {
    let result = accept(&state, request).await;
    let status = match &result {
        Ok(_) => StatusCode::ACCEPTED,
        Err(error) => error.status(),
    };
    metrics::counter!(names::API_REQUESTS_TOTAL, "status" => status.as_str().to_string()).increment(1);
    result.map(|body| (StatusCode::ACCEPTED, Json(body)))
}

async fn accept(state: &AppState, request: Request) -> Result<Value, ApiError> {
    let (parts, body) = request.into_parts();
    let project_id = authenticate(&state.keys, &parts.headers)?.to_string();
    check_content_type(&parts.headers)?;
    let limit = state.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(Body::new(body), limit)
        .await
        .map_err(|_| ApiError::BodyTooLarge { limit })?;
    let payload = body::decode(&bytes, &state.limits)?;

    let request = RequestContext {
        project_id,
        received_at: Utc::now(),
    };
    let mut accepted = Vec::with_capacity(payload.events.len());
    let mut rejected = Vec::new();
    for (index, mut event) in payload.events.into_iter().enumerate() {
        if let (Some(sent_at), Value::Object(object)) = (&payload.sent_at, &mut event) {
            object.entry("sent_at").or_insert_with(|| sent_at.clone());
        }
        match validate_event(&event, &state.limits.event) {
            Ok(event) => accepted.push(enrich(event, &request)),
            Err(errors) => rejected.extend(errors.into_iter().map(|e| Rejection {
                index,
                field: e.field,
                error: e.error,
            })),
        }
    }
    metrics::counter!(names::API_EVENTS_TOTAL, "outcome" => "rejected").increment(
        rejected
            .iter()
            .map(|r| r.index)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64,
    );
    if accepted.is_empty() {
        return Err(ApiError::NoValidEvents(rejected));
    }

    let started = std::time::Instant::now();
    state
        .sink
        .send(&accepted)
        .await
        .map_err(|error| ApiError::Unavailable {
            retry_after_secs: 1,
            cause: error.to_string(),
        })?;
    metrics::histogram!(names::API_PRODUCE_SECONDS).record(started.elapsed());
    metrics::counter!(names::API_EVENTS_TOTAL, "outcome" => "accepted").increment(accepted.len() as u64);
    Ok(json!({"accepted": accepted.len(), "rejected": rejected}))
}

/// The key from `X-API-Key`, or from `Authorization: Bearer`.
fn authenticate<'k>(keys: &'k ApiKeys, headers: &HeaderMap) -> Result<&'k str, ApiError> {
    let presented = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
        })
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or(ApiError::MissingKey)?;
    keys.project_of(presented).ok_or(ApiError::UnknownKey)
}

/// JSON, or `text/plain` holding JSON (what `navigator.sendBeacon` sends); no header reads as JSON.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "text/plain" => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use axum::http::Request;
    use lakehouse_event::EventLimits;
    use tower::ServiceExt;

    const LIMITS: RequestLimits = RequestLimits {
        max_body_bytes: 4096,
        max_batch_events: 3,
        event: EventLimits {
            max_event_bytes: 1024,
            max_property_keys: 8,
        },
    };

    fn router(sink: &MemorySink) -> Router {
        let keys = ApiKeys::parse("shop:key-1").unwrap();
        let state = AppState::new(keys, Arc::new(sink.clone()), LIMITS, Health::new("test", &[]));
        app(state, lakehouse_telemetry::metrics::install_prometheus())
    }

    async fn post(
        sink: &MemorySink,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::post("/analytics");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = router(sink)
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    const JSON_KEYED: &[(&str, &str)] = &[("content-type", "application/json"), ("x-api-key", "key-1")];

    fn event(session: &str) -> Value {
        json!({"event_type": "page_view", "session_id": session, "url": "https://shop.example/a"})
    }

    #[tokio::test]
    async fn a_valid_event_is_accepted_enriched_and_sent() {
        let sink = MemorySink::default();
        let (status, _, body) = post(&sink, JSON_KEYED, event("s-1").to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body, json!({"accepted": 1, "rejected": []}));
        let sent = sink.events();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].project_id, "shop");
        assert_eq!(sent[0].path.as_deref(), Some("/a"));
    }

    #[tokio::test]
    async fn invalid_events_are_reported_by_index_and_the_rest_accepted() {
        let sink = MemorySink::default();
        let body = json!([event("s-1"), {"event_type": "BAD", "session_id": "s"}, event("s-3")]);
        let (status, _, body) = post(&sink, JSON_KEYED, body.to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["accepted"], 2);
        assert_eq!(
            body["rejected"],
            json!([{"index": 1, "field": "event_type", "error": "must match ^[a-z][a-z0-9_]{0,63}$"}])
        );
        assert_eq!(sink.events().len(), 2);
    }

    #[tokio::test]
    async fn a_batch_sent_at_applies_to_events_without_their_own() {
        let sink = MemorySink::default();
        let body = json!({"batch": [event("s-1")], "sent_at": "2026-11-23T10:00:00Z"});
        let (status, _, _) = post(&sink, JSON_KEYED, body.to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(
            sink.events()[0].sent_at.unwrap().to_rfc3339(),
            "2026-11-23T10:00:00+00:00"
        );
    }

    #[tokio::test]
    async fn nothing_valid_is_400_with_every_rejection_and_nothing_sent() {
        let sink = MemorySink::default();
        let (status, _, body) = post(&sink, JSON_KEYED, json!([{"session_id": "s"}]).to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_events");
        assert_eq!(body["error"]["details"][0]["field"], "event_type");
        assert!(sink.events().is_empty());
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
    async fn a_missing_key_is_401() {
        let sink = MemorySink::default();
        let (status, _, body) = post(
            &sink,
            &[("content-type", "application/json")],
            event("s").to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "missing_api_key");
    }

    #[tokio::test]
    async fn an_unknown_key_is_401_and_nothing_is_sent() {
        let sink = MemorySink::default();
        let (status, _, body) = post(&sink, &[("x-api-key", "key-2")], event("s").to_string()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert!(sink.events().is_empty());
    }

    #[tokio::test]
    async fn a_bearer_token_is_a_key_too() {
        let sink = MemorySink::default();
        let (status, _, _) = post(
            &sink,
            &[("authorization", "Bearer key-1")],
            event("s").to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
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

    #[tokio::test]
    async fn a_body_over_the_limit_is_413() {
        let sink = MemorySink::default();
        let big = json!({"event_type": "click", "session_id": "s", "title": "x".repeat(5000)});
        let (status, _, body) = post(&sink, JSON_KEYED, big.to_string()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "body_too_large");
    }

    #[tokio::test]
    async fn other_content_types_are_415() {
        let sink = MemorySink::default();
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-api-key", "key-1"),
        ];
        let (status, _, body) = post(&sink, &headers, "event_type=click").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["error"]["code"], "unsupported_media_type");
    }

    #[tokio::test]
    async fn text_plain_beacons_are_read_as_json() {
        let sink = MemorySink::default();
        let headers = [
            ("content-type", "text/plain;charset=UTF-8"),
            ("x-api-key", "key-1"),
        ];
        let (status, _, _) = post(&sink, &headers, event("s").to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn a_sink_failure_is_503_with_retry_after_never_2xx() {
        let sink = MemorySink::default();
        sink.set_failing(true);
        let (status, headers, body) = post(&sink, JSON_KEYED, event("s").to_string()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers.get("retry-after").unwrap(), "1");
        assert_eq!(body["error"]["code"], "unavailable");
    }
}
