//! The HTTP surface: `POST /analytics` plus the operational endpoints. The ingest handler's
//! signature says what it needs (the client IP, the authenticated project, the user agent, the
//! privacy signal, the decoded body); [`app`] says what every request to it goes through first.

use std::time::Instant;

use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Json, Router, middleware};
use chrono::Utc;
use lakehouse_event::{EnrichedEvent, EventLimits, validate_event};
use lakehouse_telemetry::metrics as names;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;

use crate::auth::Project;
use crate::client_ip::ClientIp;
use crate::cors;
use crate::enrich::{RequestContext, enrich};
use crate::error::{ApiError, ErrorCode, Rejection, method_not_allowed};
use crate::payload::Payload;
use crate::rate_limit::limit_client_ip;
use crate::state::AppState;
use crate::user_agent::{self, UserAgent};
use crate::visitor::{OptOut, PrivacyPolicy};

/// The whole router, ready to serve or to test with `oneshot`.
pub fn app(state: AppState, metrics: PrometheusHandle) -> Router {
    let ops = lakehouse_telemetry::ops_router(state.health.clone(), metrics);
    let cors = state.cors.layer();
    // What a POST goes through before its extractors, outermost first; preflights (answered by
    // the CORS layer), other methods and the other endpoints go through none of it.
    let before_ingest = ServiceBuilder::new()
        // Every answer is counted by status and code, shed ones included.
        .layer(middleware::map_response(count_answer))
        // Past `max_concurrent_requests` in flight a request is answered 503 at once, not queued.
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(
            state.in_flight.clone(),
        ))
        .layer(middleware::from_fn_with_state(state.clone(), limit_client_ip));
    Router::new()
        .route(
            "/analytics",
            post(ingest)
                .route_layer(before_ingest)
                .fallback(method_not_allowed),
        )
        .layer(cors)
        .layer(middleware::map_response(cors::without_refused_origin))
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

/// What load shedding answers: its `Overloaded` is the only error of the layers below it.
async fn overloaded(_: BoxError) -> ApiError {
    ApiError::Overloaded
}

/// Counts an answer to `POST /analytics` by status and code (`accepted` for a 202).
async fn count_answer(response: Response) -> Response {
    let code = response
        .extensions()
        .get::<ErrorCode>()
        .map_or("accepted", |code| code.0);
    metrics::counter!(names::API_REQUESTS_TOTAL, "status" => response.status().as_str().to_string(), "code" => code)
        .increment(1);
    response
}

/// `POST /analytics`: the valid events of a request enriched and handed to Kafka, answered 202
/// once Kafka acknowledged every one; the invalid ones reported by index.
async fn ingest(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    Project(project_id): Project,
    UserAgent(user_agent): UserAgent,
    OptOut(asks_not_to_be_tracked): OptOut,
    payload: Payload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state
        .rate_limits
        .check_project(&project_id, payload.events.len())?;
    let opted_out = asks_not_to_be_tracked && state.privacy != PrivacyPolicy::Ignore;
    let received_at = Utc::now();
    let visitor_id = client_ip.filter(|_| !opted_out).map(|ip| {
        state
            .visitors
            .visitor_id(received_at.date_naive(), &project_id, ip, &user_agent)
    });
    let request = RequestContext {
        project_id,
        received_at,
        client: user_agent::parse(&user_agent),
        visitor_id,
        country: client_ip.and_then(|ip| state.geoip.country(ip)),
    };
    let (accepted, rejected) = validate(payload, &state.limits.event, opted_out, &request);
    if accepted.is_empty() {
        return Err(ApiError::NoValidEvents(rejected));
    }
    if opted_out && state.privacy == PrivacyPolicy::Drop {
        metrics::counter!(names::API_EVENTS_TOTAL, "outcome" => "dropped").increment(accepted.len() as u64);
        let body = json!({"accepted": 0, "rejected": rejected, "dropped": accepted.len()});
        return Ok((StatusCode::ACCEPTED, Json(body)));
    }

    let started = Instant::now();
    state.sink.send(&accepted).await?;
    metrics::histogram!(names::API_PRODUCE_SECONDS).record(started.elapsed());
    metrics::counter!(names::API_EVENTS_TOTAL, "outcome" => "accepted").increment(accepted.len() as u64);
    let body = json!({"accepted": accepted.len(), "rejected": rejected});
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Each event validated (with the batch's `sent_at` where it has none of its own) and, when
/// valid, enriched; the broken rules of the others as rejections by index, counted.
fn validate(
    payload: Payload,
    limits: &EventLimits,
    opted_out: bool,
    request: &RequestContext,
) -> (Vec<EnrichedEvent>, Vec<Rejection>) {
    let mut accepted = Vec::with_capacity(payload.events.len());
    let mut rejected = Vec::new();
    for (index, mut event) in payload.events.into_iter().enumerate() {
        if let (Some(sent_at), Value::Object(object)) = (&payload.sent_at, &mut event) {
            object.entry("sent_at").or_insert_with(|| sent_at.clone());
        }
        match validate_event(&event, limits) {
            Ok(mut event) => {
                if opted_out {
                    event.user_id = None;
                }
                accepted.push(enrich(event, request));
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
    (accepted, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpLimits;
    use crate::sink::MemorySink;
    use crate::test_app::{JSON_KEYED, event, post, send, state};
    use axum::body::Body;
    use axum::http::Request;

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
    async fn a_sink_failure_is_503_with_retry_after_never_2xx() {
        let sink = MemorySink::default();
        sink.set_failing(true);
        let (status, headers, body) = post(&sink, JSON_KEYED, event("s").to_string()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers.get("retry-after").unwrap(), "1");
        assert_eq!(body["error"]["code"], "unavailable");
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
}
