//! Who a request is for: the [`Project`] extractor checks the API key (`X-API-Key`,
//! `Authorization: Bearer`, or the `api_key` query parameter) against the static and stored keys,
//! then the request's `Origin` against that project's CORS list (DESIGN.md §4).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::cors::CorsPolicy;
use crate::error::ApiError;
use crate::stored_keys::{KeyStatus, KeyStore};

/// The project of a request whose key is live and whose origin, if any, the project allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project(pub String);

impl<S> FromRequestParts<S> for Project
where
    S: Send + Sync,
    Arc<KeyStore>: FromRef<S>,
    Arc<CorsPolicy>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let keys = Arc::<KeyStore>::from_ref(state);
        let project_id = authenticate(&keys, &parts.headers, parts.uri.query())?;
        Arc::<CorsPolicy>::from_ref(state).check(&project_id, &parts.headers)?;
        Ok(Self(project_id))
    }
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

#[cfg(test)]
mod tests {
    use crate::sink::MemorySink;
    use crate::test_app::{cors_state, event, from_origin, post, send, state};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};

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
}
