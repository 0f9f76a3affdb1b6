//! Every way a page can fail, and the one place that maps each to a status and an error page.
//! People's mistakes (a bad version, a refused query) are not logged; the lake failing is, once,
//! here.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lakehouse_lake::{LakeError, QueryRefused};
use maud::html;

use crate::layout::{Nav, page};

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A parameter that cannot be what it names (`version=abc`).
    #[error("{0}")]
    BadRequest(String),
    /// The SQL console's query is not read-only, took too long or too much memory, every query
    /// slot is taken, or the browser is shutting down.
    #[error("{0}")]
    Refused(QueryRefused),
    /// There is no events table at the lake's location yet.
    #[error("{0}")]
    NoTable(String),
    /// The version or time asked for is not (or no longer) in the log, or no such page.
    #[error("{0}")]
    NotFound(String),
    #[error("this page needs the lake browser's token: sign in, or send Authorization: Bearer <token>")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// The table changed under a restore's confirmation.
    #[error("{0}")]
    Conflict(String),
    #[error("the lake could not be read: {0}")]
    Lake(#[from] LakeError),
}

impl PageError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Refused(QueryRefused::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            Self::Refused(QueryRefused::Busy(_) | QueryRefused::ShuttingDown) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Refused(_) => StatusCode::BAD_REQUEST,
            Self::NoTable(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Lake(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A query's failure: a refusal is the person's, anything else (a misspelt column included)
    /// is DataFusion's message, also theirs to fix, unless the store itself failed.
    pub fn from_query(error: LakeError) -> Self {
        if let Some(refused) = error.operation::<QueryRefused>() {
            return Self::Refused(refused.clone());
        }
        match error {
            LakeError::Query(query) => Self::BadRequest(query.strip_backtrace()),
            other => Self::Lake(other),
        }
    }

    /// How long a busy client should wait.
    fn retry_after(&self) -> Option<Duration> {
        matches!(self, Self::Refused(QueryRefused::Busy(_))).then_some(Duration::from_secs(1))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Lake(error) = &self {
            tracing::error!(%error, "a page could not read the lake");
        }
        let body = page(
            "Error",
            Nav::None,
            None,
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("error")) }
                p.error #error { (self.to_string()) }
                @if matches!(self, Self::Unauthorized) {
                    p { a href="/login" { "Sign in with the token" } }
                }
            },
        );
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        if matches!(self, Self::Unauthorized) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lake-browser\""),
            );
        }
        if let Some(after) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
        }
        response
    }
}
