//! The router over a memory sink, for the request tests that live beside the modules they exercise.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use lakehouse_event::EventLimits;
use lakehouse_telemetry::Health;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::RequestLimits;
use crate::cors::CorsPolicy;
use crate::geoip::GeoIp;
use crate::keys::ApiKeys;
use crate::routes::app;
use crate::sink::MemorySink;
use crate::state::AppState;

pub const LIMITS: RequestLimits = RequestLimits {
    max_body_bytes: 4096,
    max_batch_events: 3,
    event: EventLimits {
        max_event_bytes: 1024,
        max_property_keys: 8,
    },
};

pub const JSON_KEYED: &[(&str, &str)] = &[("content-type", "application/json"), ("x-api-key", "key-1")];

/// `POST /analytics` with `headers` and `body` to a router over [`state`].
pub async fn post(
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

pub fn event(session: &str) -> Value {
    json!({"event_type": "page_view", "session_id": session, "url": "https://shop.example/a"})
}

/// Sends `request` to a router over `state` and returns the status, headers and JSON body.
pub async fn send(state: AppState, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
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

/// Project `shop` with the key `key-1`, [`LIMITS`], everything else at its default.
pub fn state(sink: &MemorySink) -> AppState {
    let keys = ApiKeys::parse("shop:key-1").unwrap();
    AppState::new(keys, Arc::new(sink.clone()), LIMITS, Health::new("test", &[]))
}

/// A database with 81.2.69.0/24 in Germany and 2001:db8:1::/48 in France.
pub fn geoip() -> GeoIp {
    use crate::geoip::test_database::{TestDatabase, country};
    let database = TestDatabase::new()
        .network("81.2.69.0/24", country("DE"))
        .network("2001:db8:1::/48", country("FR"));
    GeoIp::from_bytes(database.build()).unwrap()
}

/// A keyed event from a socket at `peer`, forwarded for `forwarded_for` if given.
pub fn from_peer(peer: &str, forwarded_for: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/analytics").header("x-api-key", "key-1");
    if let Some(forwarded) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request.body(Body::from(event("s").to_string())).unwrap();
    let peer = SocketAddr::new(peer.parse().unwrap(), 4000);
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

/// Three projects: `shop` and `blog` with their own origins, `news` with the global list.
pub fn cors_state(sink: &MemorySink) -> AppState {
    let keys = ApiKeys::parse("shop:key-shop,blog:key-blog,news:key-news").unwrap();
    let cors = CorsPolicy::parse(
        "https://default.example",
        "shop=https://shop.example|https://www.shop.example;blog=https://blog.example",
    )
    .unwrap();
    AppState::new(keys, Arc::new(sink.clone()), LIMITS, Health::new("test", &[])).with_cors(cors)
}

/// A post of an event with `key`, from a page at `origin` if given.
pub fn from_origin(key: &str, origin: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/analytics").header("x-api-key", key);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.body(Body::from(event("s").to_string())).unwrap()
}
