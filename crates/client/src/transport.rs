//! One request to the api and what its answer means (README "Posting events").

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;

use crate::Error;

/// Bodies above this are gzipped (when enabled): smaller ones gain nothing.
const GZIP_ABOVE: usize = 1024;

/// How an attempt ended, as a label for counts: the HTTP status, or why there was none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Http(u16),
    Timeout,
    Connection,
}

impl Status {
    /// `"202"`, `"503"`, `"timeout"`, `"connection_error"`.
    pub fn label(&self) -> String {
        match self {
            Self::Http(code) => code.to_string(),
            Self::Timeout => "timeout".into(),
            Self::Connection => "connection_error".into(),
        }
    }
}

/// An event the api refused inside a `202` or a `400`: its index in the batch and the field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rejection {
    pub index: usize,
    pub field: String,
    pub error: String,
}

/// What the answer means for the batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every event but the `rejected` ones is durably in Kafka.
    Accepted { rejected: Vec<Rejection> },
    /// Not stored, or not known to be (408, 429, 5xx, a timeout, a broken connection): send the
    /// same events again, not before `retry_after`.
    Retry { retry_after: Option<Duration> },
    /// Refused for good (any other 4xx): sending it again would be refused again.
    Refused { status: u16, problems: Vec<String> },
}

/// One attempt: how it ended, how long the api took to answer, what it means.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Status,
    pub latency: Duration,
    pub outcome: Outcome,
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    rejected: Vec<Rejection>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<serde_json::Value>,
}

/// Sends batches of events to one endpoint with one key.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    endpoint: String,
    api_key: HeaderValue,
    gzip: bool,
}

impl Transport {
    /// A transport with its own HTTP client, each request limited to `timeout`.
    pub fn new(endpoint: &str, api_key: &str, timeout: Duration, gzip: bool) -> Result<Self, Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Self::with_client(http, endpoint, api_key, gzip)
    }

    /// A transport over `http` (its pool and timeouts as the caller set them).
    pub fn with_client(
        http: reqwest::Client,
        endpoint: &str,
        api_key: &str,
        gzip: bool,
    ) -> Result<Self, Error> {
        let url = reqwest::Url::parse(endpoint)
            .map_err(|e| Error::Config(format!("endpoint {endpoint:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!("endpoint {endpoint:?} is not http(s)")));
        }
        let mut api_key = HeaderValue::from_str(api_key)
            .map_err(|_| Error::Config("the API key is not a header value".into()))?;
        api_key.set_sensitive(true);
        Ok(Self {
            http,
            endpoint: endpoint.to_string(),
            api_key,
            gzip,
        })
    }

    /// Sends `events` (each one event's JSON) as one batch stamped with `sent_at` now.
    pub async fn send(&self, events: &[Vec<u8>]) -> Attempt {
        self.send_with_headers(events, HeaderMap::new()).await
    }

    /// [`Transport::send`] with further request headers (e.g. `X-Forwarded-For` behind a proxy).
    pub async fn send_with_headers(&self, events: &[Vec<u8>], mut headers: HeaderMap) -> Attempt {
        let mut body = batch_body(events, Utc::now());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-api-key", self.api_key.clone());
        if self.gzip && body.len() > GZIP_ABOVE {
            let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            // Writing to a Vec cannot fail.
            if encoder.write_all(&body).is_ok()
                && let Ok(gzipped) = encoder.finish()
            {
                body = gzipped;
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
        }
        let started = Instant::now();
        let answer = self
            .http
            .post(&self.endpoint)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let latency = started.elapsed();
        match answer {
            Ok(response) => {
                let code = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, Utc::now()));
                let outcome = match code {
                    408 | 429 | 500..=599 => Outcome::Retry { retry_after },
                    _ => {
                        let answer: Answer = response.json().await.unwrap_or_default();
                        answer_outcome(code, answer)
                    }
                };
                Attempt {
                    status: Status::Http(code),
                    latency,
                    outcome,
                }
            }
            Err(error) => Attempt {
                status: if error.is_timeout() {
                    Status::Timeout
                } else {
                    Status::Connection
                },
                latency,
                outcome: Outcome::Retry { retry_after: None },
            },
        }
    }
}

fn answer_outcome(code: u16, answer: Answer) -> Outcome {
    if (200..300).contains(&code) {
        return Outcome::Accepted {
            rejected: answer.rejected,
        };
    }
    let error = answer.error.unwrap_or_default();
    let mut problems = vec![format!("{code} {}: {}", error.code, error.message)];
    problems.extend(error.details.iter().map(|detail| {
        let index = detail["index"]
            .as_u64()
            .map(|i| format!("event {i}: "))
            .unwrap_or_default();
        format!(
            "{index}{} {}",
            detail["field"].as_str().unwrap_or("?"),
            detail["error"].as_str().unwrap_or("")
        )
    }));
    Outcome::Refused {
        status: code,
        problems,
    }
}

/// `{"batch": [...], "sent_at": "..."}` from events already encoded.
fn batch_body(events: &[Vec<u8>], sent_at: DateTime<Utc>) -> Vec<u8> {
    let size: usize = events.iter().map(|event| event.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 64);
    body.extend_from_slice(b"{\"batch\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.extend_from_slice(b"],\"sent_at\":\"");
    body.extend_from_slice(sent_at.to_rfc3339_opts(SecondsFormat::Millis, true).as_bytes());
    body.extend_from_slice(b"\"}");
    body
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn the_body_is_a_batch_with_sent_at() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T09:00:00.250Z")
            .expect("a time")
            .to_utc();
        let body = batch_body(&[b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()], at);
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            body,
            json!({"batch": [{"a": 1}, {"b": 2}], "sent_at": "2026-12-01T09:00:00.250Z"})
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
            .expect("a time")
            .to_utc();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 09:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn a_refusal_names_each_field() {
        let answer: Answer = serde_json::from_value(json!({"error": {"code": "invalid_events", "message": "no valid event",
            "details": [{"index": 1, "field": "properties.step", "error": "must be an integer of at least 1"}]}}))
        .expect("an answer");
        assert_eq!(
            answer_outcome(400, answer),
            Outcome::Refused {
                status: 400,
                problems: vec![
                    "400 invalid_events: no valid event".into(),
                    "event 1: properties.step must be an integer of at least 1".into()
                ]
            }
        );
    }
}
