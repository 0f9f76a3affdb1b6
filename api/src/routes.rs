//! The HTTP surface: `POST /analytics` plus the operational endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use lakehouse_event::validate_event;
use lakehouse_telemetry::Health;
use lakehouse_telemetry::metrics as names;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};

use tokio::sync::Semaphore;

use crate::body::{self, RequestLimits};
use crate::cors::{self, CorsPolicy};
use crate::encoding;
use crate::enrich::{RequestContext, enrich};
use crate::error::{ApiError, Rejection};
use crate::geoip::GeoIp;
use crate::keys::ApiKeys;
use crate::rate_limit::RateLimits;
use crate::sink::EventSink;
use crate::stored_keys::{KeyStatus, KeyStore};
use crate::user_agent;
use crate::visitor::{self, PrivacyPolicy, VisitorIds};

/// What every request handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    keys: Arc<KeyStore>,
    sink: Arc<dyn EventSink>,
    limits: RequestLimits,
    health: Health,
    rate_limits: Arc<RateLimits>,
    http: HttpLimits,
    in_flight: Arc<Semaphore>,
    visitors: VisitorIds,
    privacy: PrivacyPolicy,
    cors: Arc<CorsPolicy>,
    geoip: GeoIp,
}

/// Limits on the HTTP exchange itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client may take to send its body (408 past it). Not applied to the produce,
    /// which has its own timeout: an event handed to Kafka is never answered with a timeout.
    pub request_timeout: Duration,
    /// Requests handled at once; more are answered 503 at once (load shedding).
    pub max_concurrent_requests: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_concurrent_requests: 1_024,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .field("http", &self.http)
            .field("cors", &self.cors)
            .field("geoip", &self.geoip)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state without rate limits and with default HTTP limits (see the `with_` methods).
    pub fn new(keys: ApiKeys, sink: Arc<dyn EventSink>, limits: RequestLimits, health: Health) -> Self {
        let http = HttpLimits::default();
        Self {
            keys: Arc::new(KeyStore::new(keys)),
            sink,
            limits,
            health,
            rate_limits: Arc::new(RateLimits::unlimited()),
            in_flight: Arc::new(Semaphore::new(http.max_concurrent_requests)),
            http,
            visitors: VisitorIds::random(),
            privacy: PrivacyPolicy::Anonymize,
            cors: Arc::new(CorsPolicy::default()),
            geoip: GeoIp::disabled(),
        }
    }

    /// Which origins may post, globally and per project (any origin, by default).
    pub fn with_cors(mut self, cors: CorsPolicy) -> Self {
        self.cors = Arc::new(cors);
        self
    }

    /// Where events' `country` comes from (nowhere, by default).
    pub fn with_geoip(mut self, geoip: GeoIp) -> Self {
        self.geoip = geoip;
        self
    }

    /// Checks keys against `keys` (static and stored ones) instead of the static keys alone.
    pub fn with_key_store(mut self, keys: Arc<KeyStore>) -> Self {
        self.keys = keys;
        self
    }

    /// How visitor ids are computed, and what `DNT` / `Sec-GPC` requests get.
    pub fn with_visitors(mut self, visitors: VisitorIds, privacy: PrivacyPolicy) -> Self {
        self.visitors = visitors;
        self.privacy = privacy;
        self
    }

    pub fn with_rate_limits(mut self, rate_limits: Arc<RateLimits>) -> Self {
        self.rate_limits = rate_limits;
        self
    }

    pub fn with_http_limits(mut self, http: HttpLimits) -> Self {
        self.in_flight = Arc::new(Semaphore::new(http.max_concurrent_requests));
        self.http = http;
        self
    }
}

/// The whole router, ready to serve or to test with `oneshot`.
pub fn app(state: AppState, metrics: PrometheusHandle) -> Router {
    let ops = lakehouse_telemetry::ops_router(state.health.clone(), metrics);
    let cors = state.cors.layer();
    Router::new()
        .route(
            "/analytics",
            post(ingest).fallback(crate::error::method_not_allowed),
        )
        .layer(cors)
        .layer(axum::middleware::map_response(cors::without_refused_origin))
        .with_state(state)
        .route("/openapi.json", get(openapi))
        .merge(ops)
}

/// The OpenAPI document: every request form, status and error code.
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../openapi.json"),
    )
}

async fn ingest(State(state): State<AppState>, request: Request) -> Result<impl IntoResponse, ApiError> {
    let result = accept(&state, request).await;
    let (status, code) = match &result {
        Ok(_) => (StatusCode::ACCEPTED, "accepted"),
        Err(error) => (error.status(), error.code()),
    };
    metrics::counter!(names::API_REQUESTS_TOTAL, "status" => status.as_str().to_string(), "code" => code)
        .increment(1);
    result.map(|body| (StatusCode::ACCEPTED, Json(body)))
}

async fn accept(state: &AppState, request: Request) -> Result<Value, ApiError> {
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return Err(ApiError::Overloaded);
    };
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client_ip = state.rate_limits.client_ip(peer, &parts.headers);
    state.rate_limits.check_ip(client_ip)?;
    let project_id = authenticate(&state.keys, &parts.headers, parts.uri.query())?;
    state.cors.check(&project_id, &parts.headers)?;
    check_content_type(&parts.headers)?;
    let limit = state.limits.max_body_bytes;
    let bytes = tokio::time::timeout(
        state.http.request_timeout,
        axum::body::to_bytes(Body::new(body), limit),
    )
    .await
    .map_err(|_| ApiError::Timeout)?
    .map_err(|_| ApiError::BodyTooLarge { limit })?;
    let bytes = encoding::decode(&parts.headers, bytes, limit)?;
    let payload = body::decode(&bytes, &state.limits)?;
    state
        .rate_limits
        .check_project(&project_id, payload.events.len())?;

    let received_at = Utc::now();
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let opted_out = state.privacy != PrivacyPolicy::Ignore && visitor::opted_out(&parts.headers);
    let visitor_id = client_ip.filter(|_| !opted_out).map(|ip| {
        state
            .visitors
            .visitor_id(received_at.date_naive(), &project_id, ip, user_agent)
    });
    let request = RequestContext {
        project_id,
        received_at,
        client: user_agent::parse(user_agent),
        visitor_id,
        country: client_ip.and_then(|ip| state.geoip.country(ip)),
    };
    let mut accepted = Vec::with_capacity(payload.events.len());
    let mut rejected = Vec::new();
    for (index, mut event) in payload.events.into_iter().enumerate() {
        if let (Some(sent_at), Value::Object(object)) = (&payload.sent_at, &mut event) {
            object.entry("sent_at").or_insert_with(|| sent_at.clone());
        }
        match validate_event(&event, &state.limits.event) {
            Ok(mut event) => {
                if opted_out {
                    event.user_id = None;
                }
                accepted.push(enrich(event, &request));
            }
            Err(errors) => rejected.extend(errors.into_iter().map(|e| Rejection {
                index,
                field: e.field,
                error: e.error,
            })),
        }
    }
    for rejection in &rejected {
        metrics::counter!(names::API_REJECTED_FIELDS_TOTAL, "field" => lakehouse_event::metric_field(&rejection.field))
            .increment(1);
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
    if opted_out && state.privacy == PrivacyPolicy::Drop {
        metrics::counter!(names::API_EVENTS_TOTAL, "outcome" => "dropped").increment(accepted.len() as u64);
        return Ok(json!({"accepted": 0, "rejected": rejected, "dropped": accepted.len()}));
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

/// The key from `X-API-Key`, from `Authorization: Bearer`, or from the `api_key` query parameter
/// (for `navigator.sendBeacon`, which cannot set headers).
fn authenticate(keys: &KeyStore, headers: &HeaderMap, query: Option<&str>) -> Result<String, ApiError> {
    let from_query = query.and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "api_key")
            .map(|(_, value)| value.into_owned())
    });
    let presented = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
        })
        .or(from_query.as_deref())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or(ApiError::MissingKey)?;
    match keys.status(presented) {
        KeyStatus::Live { project_id } => Ok(project_id),
        KeyStatus::Revoked => Err(ApiError::RevokedKey),
        KeyStatus::Unknown => Err(ApiError::UnknownKey),
    }
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

    async fn post(
        sink: &MemorySink,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::post("/analytics");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(state(sink), request.body(body.into()).unwrap()).await
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

    /// Sends `request` to a router over `state` and returns the status, headers and JSON body.
    async fn send(state: AppState, request: axum::http::Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = app(state, lakehouse_telemetry::metrics::install_prometheus())
            .oneshot(request)
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn state(sink: &MemorySink) -> AppState {
        let keys = ApiKeys::parse("shop:key-1").unwrap();
        AppState::new(keys, Arc::new(sink.clone()), LIMITS, Health::new("test", &[]))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[tokio::test]
    async fn a_gzip_body_is_accepted_and_a_gzip_bomb_is_413() {
        let sink = MemorySink::default();
        let headers = [
            ("content-type", "application/json"),
            ("x-api-key", "key-1"),
            ("content-encoding", "gzip"),
        ];
        let (status, _, body) = post(&sink, &headers, gzip(event("s-1").to_string().as_bytes())).await;
        assert_eq!(
            (status, body["accepted"].clone()),
            (StatusCode::ACCEPTED, json!(1))
        );
        let bomb = gzip(&vec![b' '; 2 * 1024 * 1024]);
        assert!(
            bomb.len() < LIMITS.max_body_bytes,
            "the bomb passes the body limit compressed"
        );
        let (status, _, body) = post(&sink, &headers, bomb).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "body_too_large");
        assert_eq!(sink.events().len(), 1);
    }

    #[tokio::test]
    async fn a_beacon_with_the_key_in_the_query_is_accepted() {
        let sink = MemorySink::default();
        let request = Request::post("/analytics?api_key=key-1")
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Body::from(event("s-1").to_string()))
            .unwrap();
        let (status, _, _) = send(state(&sink), request).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(sink.events()[0].project_id, "shop");
        let request = Request::post("/analytics?api_key=wrong")
            .body(Body::from(event("s-2").to_string()))
            .unwrap();
        assert_eq!(send(state(&sink), request).await.0, StatusCode::UNAUTHORIZED);
    }

    /// Limits of (rate, burst) per project and per client IP.
    fn rate_limits(project: (u32, u32), ip: (u32, u32)) -> Arc<RateLimits> {
        let rate = |(per_second, burst)| crate::Rate { per_second, burst };
        Arc::new(RateLimits::new(rate(project), rate(ip), false))
    }

    #[tokio::test]
    async fn past_a_project_rate_limit_is_429_with_when_to_retry_and_nothing_sent() {
        let sink = MemorySink::default();
        let limits = rate_limits((1, 2), (0, 0));
        let request = || {
            Request::post("/analytics")
                .header("x-api-key", "key-1")
                .body(Body::from(json!([event("a"), event("b")]).to_string()))
                .unwrap()
        };
        let limited = state(&sink).with_rate_limits(limits);
        assert_eq!(send(limited.clone(), request()).await.0, StatusCode::ACCEPTED);
        let (status, headers, body) = send(limited, request()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        assert_eq!(headers["ratelimit-limit"], "1");
        assert_eq!(headers["ratelimit-remaining"], "0");
        assert!(headers.contains_key("ratelimit-reset"));
        assert_eq!(sink.events().len(), 2, "the refused request sent nothing");
    }

    #[tokio::test]
    async fn past_a_client_ip_rate_limit_is_429() {
        let sink = MemorySink::default();
        let limits = rate_limits((0, 0), (1, 1));
        let limited = state(&sink).with_rate_limits(limits);
        let from = |ip: [u8; 4]| {
            let mut request = Request::post("/analytics")
                .header("x-api-key", "key-1")
                .body(Body::from(event("a").to_string()))
                .unwrap();
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((ip, 4000))));
            request
        };
        assert_eq!(
            send(limited.clone(), from([198, 51, 100, 9])).await.0,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            send(limited.clone(), from([198, 51, 100, 9])).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            send(limited, from([198, 51, 100, 10])).await.0,
            StatusCode::ACCEPTED,
            "another client"
        );
    }

    #[tokio::test]
    async fn past_the_concurrency_limit_requests_are_shed_with_503() {
        let sink = MemorySink::default();
        let http = HttpLimits {
            max_concurrent_requests: 0,
            ..HttpLimits::default()
        };
        let request = Request::post("/analytics")
            .header("x-api-key", "key-1")
            .body(Body::from(event("a").to_string()))
            .unwrap();
        let (status, headers, body) = send(state(&sink).with_http_limits(http), request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "overloaded");
        assert_eq!(headers["retry-after"], "1");
        assert!(sink.events().is_empty());
    }

    #[tokio::test]
    async fn a_body_that_never_arrives_is_408() {
        let sink = MemorySink::default();
        let http = HttpLimits {
            request_timeout: Duration::from_millis(50),
            ..HttpLimits::default()
        };
        let never = futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        let request = Request::post("/analytics")
            .header("x-api-key", "key-1")
            .body(Body::from_stream(never))
            .unwrap();
        let (status, _, body) = send(state(&sink).with_http_limits(http), request).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["code"], "request_timeout");
    }

    /// Three projects: `shop` and `blog` with their own origins, `news` with the global list.
    fn cors_state(sink: &MemorySink) -> AppState {
        let keys = ApiKeys::parse("shop:key-shop,blog:key-blog,news:key-news").unwrap();
        let cors = CorsPolicy::parse(
            "https://default.example",
            "shop=https://shop.example|https://www.shop.example;blog=https://blog.example",
        )
        .unwrap();
        AppState::new(keys, Arc::new(sink.clone()), LIMITS, Health::new("test", &[])).with_cors(cors)
    }

    fn from_origin(key: &str, origin: Option<&str>) -> axum::http::Request<Body> {
        let mut request = Request::post("/analytics").header("x-api-key", key);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.body(Body::from(event("s").to_string())).unwrap()
    }

    #[tokio::test]
    async fn a_project_accepts_its_own_origins() {
        let sink = MemorySink::default();
        for origin in ["https://shop.example", "https://www.shop.example"] {
            let (status, headers, _) = send(cors_state(&sink), from_origin("key-shop", Some(origin))).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{origin}");
            assert_eq!(headers["access-control-allow-origin"], origin);
        }
        assert_eq!(sink.events().len(), 2);
    }

    #[tokio::test]
    async fn an_origin_of_another_project_is_refused_unreadable_and_not_stored() {
        let sink = MemorySink::default();
        let (status, headers, body) = send(
            cors_state(&sink),
            from_origin("key-blog", Some("https://shop.example")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["code"], "origin_not_allowed");
        assert!(
            !headers.contains_key("access-control-allow-origin"),
            "the page may not read the answer: {headers:?}"
        );
        assert!(sink.events().is_empty());
        let (status, _, _) = send(
            cors_state(&sink),
            from_origin("key-shop", Some("https://default.example")),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a project's own list replaces the global one"
        );
    }

    #[tokio::test]
    async fn a_project_without_its_own_list_gets_the_global_one() {
        let sink = MemorySink::default();
        let (status, headers, _) = send(
            cors_state(&sink),
            from_origin("key-news", Some("https://default.example")),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(headers["access-control-allow-origin"], "https://default.example");
        let (status, _, _) = send(
            cors_state(&sink),
            from_origin("key-news", Some("https://shop.example")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(sink.events().len(), 1);
    }

    #[tokio::test]
    async fn requests_without_an_origin_are_not_from_a_page_and_pass() {
        let sink = MemorySink::default();
        let (status, _, _) = send(cors_state(&sink), from_origin("key-blog", None)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn a_preflight_is_answered_for_any_origin_some_project_allows() {
        let sink = MemorySink::default();
        let preflight = |origin: &str| {
            Request::options("/analytics")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type,x-api-key")
                .body(Body::empty())
                .unwrap()
        };
        for origin in [
            "https://shop.example",
            "https://www.shop.example",
            "https://blog.example",
            "https://default.example",
        ] {
            let (status, headers, _) = send(cors_state(&sink), preflight(origin)).await;
            assert!(status.is_success(), "{origin}: {status}");
            assert_eq!(headers["access-control-allow-origin"], origin);
            assert!(
                headers["access-control-allow-headers"]
                    .to_str()
                    .unwrap()
                    .contains("x-api-key")
            );
        }
        let (_, headers, _) = send(cors_state(&sink), preflight("https://evil.example")).await;
        assert!(!headers.contains_key("access-control-allow-origin"));
        assert!(sink.events().is_empty());
    }

    #[tokio::test]
    async fn the_openapi_document_lists_every_error_under_its_status() {
        let sink = MemorySink::default();
        let (status, _, doc) = send(
            state(&sink),
            Request::get("/openapi.json").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let every_error = [
            ApiError::MalformedJson {
                line: 1,
                column: 1,
                message: String::new(),
            },
            ApiError::invalid_body("f", "m"),
            ApiError::NoValidEvents(vec![]),
            ApiError::TooManyEvents { count: 2, limit: 1 },
            ApiError::BodyTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType,
            ApiError::UnsupportedEncoding {
                encoding: "br".into(),
            },
            ApiError::MissingKey,
            ApiError::UnknownKey,
            ApiError::RevokedKey,
            ApiError::OriginNotAllowed {
                origin: "https://evil.example".into(),
            },
            ApiError::RateLimited {
                scope: "project",
                limit: 1,
                retry_after_secs: 1,
            },
            ApiError::Timeout,
            ApiError::Overloaded,
            ApiError::Unavailable {
                retry_after_secs: 1,
                cause: String::new(),
            },
            ApiError::MethodNotAllowed { method: "GET".into() },
        ];
        let responses = &doc["paths"]["/analytics"]["post"]["responses"];
        for error in every_error {
            let documented = &responses[error.status().as_str()]["content"]["application/json"]["schema"]["allOf"]
                [1]["properties"]["error"]["properties"]["code"]["enum"];
            assert!(
                documented
                    .as_array()
                    .is_some_and(|codes| codes.contains(&json!(error.code()))),
                "{} ({}) is not documented under {}",
                error.code(),
                error,
                error.status()
            );
        }
    }

    #[tokio::test]
    async fn events_get_a_daily_visitor_id_and_the_client_unless_it_opts_out() {
        let sink = MemorySink::default();
        let visitors = VisitorIds::new("secret");
        let request = |extra: Option<(&str, &str)>| {
            let mut request = Request::post("/analytics").header("x-api-key", "key-1").header(
                "user-agent",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36",
            );
            if let Some((name, value)) = extra {
                request = request.header(name, value);
            }
            let body = json!({"event_type": "page_view", "session_id": "s", "user_id": "u-1"});
            let mut request = request.body(Body::from(body.to_string())).unwrap();
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 7], 5000))));
            request
        };
        let anonymizing = state(&sink).with_visitors(visitors.clone(), PrivacyPolicy::Anonymize);
        for extra in [None, None, Some(("dnt", "1")), Some(("sec-gpc", "1"))] {
            assert_eq!(
                send(anonymizing.clone(), request(extra)).await.0,
                StatusCode::ACCEPTED
            );
        }
        let ignoring = state(&sink).with_visitors(visitors.clone(), PrivacyPolicy::Ignore);
        assert_eq!(
            send(ignoring, request(Some(("dnt", "1")))).await.0,
            StatusCode::ACCEPTED
        );
        let dropping = state(&sink).with_visitors(visitors, PrivacyPolicy::Drop);
        let (status, _, body) = send(dropping.clone(), request(Some(("sec-gpc", "1")))).await;
        assert_eq!(
            (status, body["accepted"].clone(), body["dropped"].clone()),
            (StatusCode::ACCEPTED, json!(0), json!(1))
        );
        assert_eq!(send(dropping, request(None)).await.0, StatusCode::ACCEPTED);

        let events = sink.events();
        assert_eq!(events.len(), 6, "the dropped event was not sent");
        let ids: Vec<_> = events.iter().map(|e| e.visitor_id.clone()).collect();
        assert!(ids[0].is_some());
        assert_eq!(ids[0], ids[1], "one visitor, one id");
        for opted_out in &events[2..4] {
            assert_eq!(
                (opted_out.visitor_id.clone(), opted_out.user_id.clone()),
                (None, None),
                "DNT and GPC anonymize"
            );
        }
        assert_eq!(events[0].user_id.as_deref(), Some("u-1"));
        assert_eq!(ids[4], ids[0], "unless the api is told to ignore them");
        assert_eq!(events[0].browser.as_deref(), Some("Chrome"));
        assert_eq!(events[0].device_type.as_deref(), Some("desktop"));
        let stored = serde_json::to_string(&events).unwrap();
        assert!(
            !stored.contains("203.0.113.7"),
            "the client IP is not in any event"
        );
    }

    /// A database with 81.2.69.0/24 in Germany and 2001:db8:1::/48 in France.
    fn geoip() -> GeoIp {
        use crate::geoip::test_database::{TestDatabase, country};
        let database = TestDatabase::new()
            .network("81.2.69.0/24", country("DE"))
            .network("2001:db8:1::/48", country("FR"));
        GeoIp::from_bytes(database.build()).unwrap()
    }

    fn from_peer(peer: &str, forwarded_for: Option<&str>) -> axum::http::Request<Body> {
        let mut request = Request::post("/analytics").header("x-api-key", "key-1");
        if let Some(forwarded) = forwarded_for {
            request = request.header("x-forwarded-for", forwarded);
        }
        let mut request = request.body(Body::from(event("s").to_string())).unwrap();
        let peer = SocketAddr::new(peer.parse().unwrap(), 4000);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }

    #[tokio::test]
    async fn events_get_the_country_of_their_client_ip_and_not_the_ip() {
        let sink = MemorySink::default();
        let located = state(&sink).with_geoip(geoip());
        for peer in ["81.2.69.160", "2001:db8:1::9", "8.8.8.8", "10.0.0.1"] {
            let (status, _, _) = send(located.clone(), from_peer(peer, None)).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{peer}");
        }
        let countries: Vec<_> = sink.events().into_iter().map(|e| e.country).collect();
        assert_eq!(
            countries,
            [Some("DE".to_string()), Some("FR".to_string()), None, None],
            "known networks, then an address the database lacks and a private one"
        );
        let stored = serde_json::to_string(&sink.events()).unwrap();
        assert!(!stored.contains("81.2.69.160") && !stored.contains("2001:db8:1::9"));
    }

    #[tokio::test]
    async fn the_country_is_looked_up_for_the_same_client_ip_as_the_rate_limits() {
        let sink = MemorySink::default();
        let trusting = Arc::new(RateLimits::new(
            crate::Rate {
                per_second: 0,
                burst: 0,
            },
            crate::Rate {
                per_second: 0,
                burst: 0,
            },
            true,
        ));
        let behind_proxy = state(&sink).with_geoip(geoip()).with_rate_limits(trusting);
        send(behind_proxy, from_peer("10.0.0.1", Some("81.2.69.7, 10.0.0.1"))).await;
        let untrusting = state(&sink).with_geoip(geoip());
        send(untrusting, from_peer("10.0.0.1", Some("81.2.69.7"))).await;
        let countries: Vec<_> = sink.events().into_iter().map(|e| e.country).collect();
        assert_eq!(
            countries,
            [Some("DE".to_string()), None],
            "X-Forwarded-For counts only when trusted"
        );
    }

    #[tokio::test]
    async fn without_a_database_no_event_gets_a_country() {
        let sink = MemorySink::default();
        let (status, _, _) = send(state(&sink), from_peer("81.2.69.160", None)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(sink.events()[0].country, None);
    }
}
