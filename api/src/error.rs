//! Every error the api answers with, and the one place that maps each to a status. The body always
//! has the shape `{"error": {"code", "message", "details"}}`; client errors are not logged, server
//! errors are logged once, here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::cors::{OriginNotAllowed, RefusedOrigin};
use crate::sink::SinkError;

/// When a shed request may be retried.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// One rejected event of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub index: usize,
    pub field: String,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the body is not valid JSON (line {line}, column {column}): {message}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("`{field}` {message}")]
    InvalidBody { field: String, message: String },
    #[error("no event in the request is valid")]
    NoValidEvents(Vec<Rejection>),
    #[error("the request has {count} events; the limit is {limit}")]
    TooManyEvents { count: usize, limit: usize },
    #[error("the body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("Content-Type must be application/json or text/plain")]
    UnsupportedMediaType,
    #[error("an API key is required: send it in the X-API-Key header (or ?api_key= for beacons)")]
    MissingKey,
    #[error("the API key is not valid")]
    UnknownKey,
    #[error("the API key was revoked: ask the project's owner for a new one")]
    RevokedKey,
    #[error("pages at {origin} may not post events for this project (see CORS_PROJECT_ORIGINS)")]
    OriginNotAllowed { origin: String },
    #[error("Content-Encoding {encoding:?} is not supported: send gzip or no encoding")]
    UnsupportedEncoding { encoding: String },
    #[error("the {scope} rate limit of {limit} per second is exhausted; retry after {retry_after_secs} s")]
    RateLimited {
        scope: &'static str,
        limit: u32,
        retry_after_secs: u64,
    },
    #[error("{method} is not allowed here: send events with POST")]
    MethodNotAllowed { method: String },
    #[error("the request body did not arrive in time")]
    Timeout,
    #[error("the api is handling as many requests as it may; retry after {OVERLOADED_RETRY_AFTER_SECS} s")]
    Overloaded,
    #[error("the event queue is unavailable; retry after {retry_after_secs} s")]
    Unavailable { retry_after_secs: u64, cause: String },
}

impl From<OriginNotAllowed> for ApiError {
    fn from(OriginNotAllowed { origin }: OriginNotAllowed) -> Self {
        Self::OriginNotAllowed { origin }
    }
}

/// Kafka did not take the events: the client retries them (with their ids) after a second.
impl From<SinkError> for ApiError {
    fn from(error: SinkError) -> Self {
        Self::Unavailable {
            retry_after_secs: 1,
            cause: error.to_string(),
        }
    }
}

/// The code of an error answer, on the response for the layers that count answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

impl ApiError {
    pub fn invalid_body(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidBody {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// The stable machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MalformedJson { .. } => (StatusCode::BAD_REQUEST, "malformed_json"),
            Self::InvalidBody { .. } => (StatusCode::BAD_REQUEST, "invalid_body"),
            Self::NoValidEvents(_) => (StatusCode::BAD_REQUEST, "invalid_events"),
            Self::TooManyEvents { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_events"),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::MissingKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
            Self::UnknownKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            Self::RevokedKey => (StatusCode::FORBIDDEN, "revoked_api_key"),
            Self::OriginNotAllowed { .. } => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            Self::UnsupportedEncoding { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Timeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }

    fn details(&self) -> serde_json::Value {
        match self {
            Self::MalformedJson { line, column, .. } => json!([{"line": line, "column": column}]),
            Self::InvalidBody { field, message } => json!([{"field": field, "error": message}]),
            Self::NoValidEvents(rejections) => json!(rejections),
            _ => json!([]),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Unavailable { cause, .. } = &self {
            tracing::error!(cause = %cause, "answering 503: events could not be handed to Kafka");
        }
        let body = json!({"error": {"code": code, "message": self.to_string(), "details": self.details()}});
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(code));
        let headers = response.headers_mut();
        match self {
            Self::Unavailable { retry_after_secs, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::Overloaded => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(OVERLOADED_RETRY_AFTER_SECS),
                );
            }
            Self::MethodNotAllowed { .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            Self::RateLimited {
                limit,
                retry_after_secs,
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                headers.insert("ratelimit-limit", HeaderValue::from(limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(0));
                headers.insert("ratelimit-reset", HeaderValue::from(retry_after_secs));
            }
            Self::OriginNotAllowed { .. } => {
                response.extensions_mut().insert(RefusedOrigin);
            }
            _ => {}
        }
        response
    }
}

/// What `/analytics` answers to a method other than POST (and OPTIONS, which CORS answers): the
/// one error shape, where the framework alone would answer an empty 405.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}
