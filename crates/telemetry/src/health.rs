//! Liveness, readiness and metrics over HTTP. Each dependency a service needs registers a named
//! check; `/ready` answers 503 while any check fails, so that an orchestrator stops routing to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The shared state of a service's dependency checks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    version: &'static str,
    checks: RwLock<BTreeMap<&'static str, Result<(), String>>>,
}

impl Health {
    /// A registry where each named check starts failing with "not checked yet".
    pub fn new(version: &'static str, checks: &[&'static str]) -> Self {
        let health = Self {
            inner: Arc::new(Inner {
                started: Instant::now(),
                version,
                checks: RwLock::new(BTreeMap::new()),
            }),
        };
        for check in checks {
            health.set_failed(check, "not checked yet");
        }
        health
    }

    pub fn set_ok(&self, check: &'static str) {
        self.set(check, Ok(()));
    }

    pub fn set_failed(&self, check: &'static str, reason: impl ToString) {
        self.set(check, Err(reason.to_string()));
    }

    fn set(&self, check: &'static str, state: Result<(), String>) {
        let passing = if state.is_ok() { 1.0 } else { 0.0 };
        metrics::gauge!(crate::metrics::READY_CHECK, "check" => check).set(passing);
        let mut checks = self
            .inner
            .checks
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        checks.insert(check, state);
    }

    /// True when every check passes.
    pub fn is_ready(&self) -> bool {
        self.snapshot().values().all(Result::is_ok)
    }

    fn snapshot(&self) -> BTreeMap<&'static str, Result<(), String>> {
        self.inner
            .checks
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    fn body(&self) -> serde_json::Value {
        let checks: serde_json::Map<String, serde_json::Value> = self
            .snapshot()
            .into_iter()
            .map(|(name, state)| {
                (
                    name.to_string(),
                    state.err().unwrap_or_else(|| "ok".into()).into(),
                )
            })
            .collect();
        json!({
            "status": "healthy",
            "version": self.inner.version,
            "uptime_seconds": self.inner.started.elapsed().as_secs(),
            "checks": checks,
        })
    }
}

/// `/health` (the process runs), `/ready` (its dependencies answer) and `/metrics`.
pub fn ops_router(health: Health, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/health", get(liveness))
        .route("/ready", get(readiness))
        .with_state(health)
        .route("/metrics", get(move || std::future::ready(render(&metrics))))
}

/// A listening address a service could not take: it must refuse to start rather than run without
/// the probes its orchestrator and Prometheus rely on (DESIGN.md §10).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for {what}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub what: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr`, for `what` the service serves there; the error names the address.
pub async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, what, source })
}

/// What the consumers serve on `METRICS_ADDR`.
pub const OPS_ENDPOINTS: &str = "/health, /ready and /metrics";

/// Serves [`ops_router`] on `listener` (from [`bind`], so that a taken address stops the start
/// before anything else) until `shutdown` is cancelled.
pub async fn serve_ops(
    listener: TcpListener,
    health: Health,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "serving {OPS_ENDPOINTS}");
    axum::serve(listener, ops_router(health, metrics))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn liveness(State(health): State<Health>) -> Json<serde_json::Value> {
    Json(health.body())
}

async fn readiness(State(health): State<Health>) -> Response {
    let mut body = health.body();
    if health.is_ready() {
        body["status"] = "ready".into();
        (StatusCode::OK, Json(body)).into_response()
    } else {
        body["status"] = "not_ready".into();
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

fn render(metrics: &PrometheusHandle) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(router: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    fn router(health: &Health) -> Router {
        ops_router(health.clone(), crate::metrics::install_prometheus())
    }

    #[tokio::test]
    async fn ready_only_when_every_check_passes() {
        let health = Health::new("1.2.3", &["kafka", "postgres"]);
        let (status, body) = get(router(&health), "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["kafka"], "not checked yet");

        health.set_ok("kafka");
        health.set_failed("postgres", "connection refused");
        let (status, body) = get(router(&health), "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["postgres"], "connection refused");

        health.set_ok("postgres");
        let (status, body) = get(router(&health), "/ready").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["checks"]["kafka"], "ok");
    }

    #[tokio::test]
    async fn health_reports_version_and_checks_even_when_not_ready() {
        let health = Health::new("1.2.3", &["kafka"]);
        let (status, body) = get(router(&health), "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["version"], "1.2.3");
        assert!(body["uptime_seconds"].is_u64());
        assert_eq!(body["checks"]["kafka"], "not checked yet");
    }

    #[tokio::test]
    async fn each_check_is_a_gauge_on_metrics() {
        let handle = crate::metrics::install_prometheus();
        let health = Health::new("0", &["gauge-test-check"]);
        let line = |value: &str| format!(r#"lakehouse_ready_check{{check="gauge-test-check"}} {value}"#);
        assert!(handle.render().contains(&line("0")), "{}", handle.render());
        health.set_ok("gauge-test-check");
        assert!(handle.render().contains(&line("1")), "{}", handle.render());
    }

    #[tokio::test]
    async fn a_taken_address_is_refused_with_its_name() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let error = bind(addr, OPS_ENDPOINTS).await.unwrap_err();
        assert_eq!(error.source.kind(), std::io::ErrorKind::AddrInUse);
        let message = error.to_string();
        assert!(
            message.contains(&addr.to_string()) && message.contains("/health"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn metrics_are_rendered_in_prometheus_text_format() {
        let handle = crate::metrics::install_prometheus();
        metrics::counter!(crate::metrics::DLQ_MESSAGES_TOTAL, "group" => "health-test").increment(2);
        let response = ops_router(Health::new("0", &[]), handle)
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(
            text.contains(r#"lakehouse_dlq_messages_total{group="health-test"} 2"#),
            "{text}"
        );
    }
}
