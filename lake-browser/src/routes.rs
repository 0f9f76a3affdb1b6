//! The HTTP surface: the pages, the sign-in form, the style sheet and the operational endpoints,
//! behind the access rules and the security headers, each answer counted and timed.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lakehouse_telemetry::metrics as names;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::access;
use crate::error::PageError;
use crate::layout::{STYLE, STYLE_PATH};
use crate::pages::{diff, history, login, overview, restore, sql, tables};
use crate::state::AppState;

/// Every route of the lake browser.
pub fn app(state: AppState, metrics: PrometheusHandle) -> Router {
    let ops = lakehouse_telemetry::ops_router(state.health.clone(), metrics);
    Router::new()
        .route("/", get(overview::overview))
        .route("/tables", get(tables::tables))
        .route("/history", get(history::history))
        .route("/diff", get(diff::diff_page))
        .route("/sql", get(sql::console))
        .route("/sql/download", get(sql::download))
        .route("/restore", get(restore::preview).post(restore::perform))
        .route("/login", get(login::form).post(login::submit))
        .route(STYLE_PATH, get(style))
        .fallback(not_found)
        .with_state(state.clone())
        .merge(ops)
        .layer(middleware::from_fn(measure))
        .layer(middleware::from_fn_with_state(state.access, access::guard))
        .layer(middleware::map_response(access::security_headers))
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn not_found() -> PageError {
    PageError::NotFound("there is no such page".into())
}

/// Counts and times each answer by route.
async fn measure(request: Request, next: Next) -> Response {
    let page = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_string(), |path| path.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(names::LAKE_BROWSER_PAGE_SECONDS, "page" => page.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(names::LAKE_BROWSER_REQUESTS_TOTAL, "page" => page, "status" => response.status().as_str().to_string())
        .increment(1);
    response
}
