//! Reading a request body into its [`Payload`], in order: the content type (JSON, or `text/plain`
//! holding JSON), the body within the size limit and the request timeout, `Content-Encoding: gzip`
//! inflated with a cap on its decompressed size, then the JSON itself. A small body that inflates
//! past the body limit (a gzip bomb) is refused as too large once the limit is passed, never
//! inflated in full.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, header};

use crate::config::{HttpLimits, RequestLimits};
use crate::error::ApiError;
use crate::payload::{self, Payload};

impl<S> FromRequest<S> for Payload
where
    S: Send + Sync,
    RequestLimits: FromRef<S>,
    HttpLimits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let limits = RequestLimits::from_ref(state);
        let timeout = HttpLimits::from_ref(state).request_timeout;
        check_content_type(request.headers())?;
        let (parts, body) = request.into_parts();
        let limit = limits.max_body_bytes;
        let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
            .await
            .map_err(|_| ApiError::Timeout)?
            .map_err(|_| ApiError::BodyTooLarge { limit })?;
        let bytes = decode(&parts.headers, bytes, limit)?;
        payload::decode(&bytes, &limits)
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

/// The body as the client meant it: `body` itself, or `body` inflated (at most `limit` bytes).
fn decode(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body),
        Some("gzip" | "x-gzip") => {
            let mut inflated = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            flate2::read::GzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|error| ApiError::invalid_body("body", format!("is not valid gzip: {error}")))?;
            if inflated.len() > limit {
                return Err(ApiError::BodyTooLarge { limit });
            }
            Ok(inflated.into())
        }
        Some(other) => Err(ApiError::UnsupportedEncoding {
            encoding: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use crate::test_app::{JSON_KEYED, LIMITS, event, post, send, state};
    use axum::http::StatusCode;
    use serde_json::json;
    use std::io::Write;
    use std::time::Duration;

    fn gzip(data: &[u8]) -> Bytes {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap().into()
    }

    fn headers(encoding: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, encoding.parse().unwrap());
        headers
    }

    #[test]
    fn gzip_is_inflated_and_identity_passes_through() {
        let body = br#"{"event_type":"page_view"}"#;
        assert_eq!(decode(&headers("gzip"), gzip(body), 1024).unwrap(), &body[..]);
        assert_eq!(
            decode(&HeaderMap::new(), Bytes::from_static(body), 1024).unwrap(),
            &body[..]
        );
    }

    #[test]
    fn a_bomb_is_too_large_not_inflated() {
        let bomb = gzip(&vec![b' '; 64 * 1024 * 1024]);
        assert!(bomb.len() < 128 * 1024, "{} bytes compressed", bomb.len());
        let error = decode(&headers("gzip"), bomb, 1024 * 1024).unwrap_err();
        assert!(matches!(error, ApiError::BodyTooLarge { limit: 1_048_576 }));
    }

    #[test]
    fn broken_gzip_is_400_and_other_encodings_415() {
        let error = decode(&headers("gzip"), Bytes::from_static(b"not gzip"), 1024).unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
        let error = decode(&headers("br"), Bytes::from_static(b"x"), 1024).unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
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
    async fn a_body_that_never_arrives_is_408() {
        let sink = MemorySink::default();
        let http = HttpLimits {
            request_timeout: Duration::from_millis(50),
            ..HttpLimits::default()
        };
        let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        let request = axum::http::Request::post("/analytics")
            .header("x-api-key", "key-1")
            .body(axum::body::Body::from_stream(never))
            .unwrap();
        let (status, _, body) = send(state(&sink).with_http_limits(http), request).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["code"], "request_timeout");
    }
}
