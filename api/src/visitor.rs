//! `visitor_id`: who is the same visitor today, without storing who they are. The id is an HMAC
//! of the project, the client IP and the user agent under a salt that changes every UTC day; the
//! salt is itself derived from a configured secret and the date, so every replica computes the
//! same id without talking to the others, and nobody can link a visitor across days or recover
//! the IP from an id. The raw IP is used here and for rate limiting, never stored or logged.

use std::convert::Infallible;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use lakehouse_telemetry::Secret;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hex characters of a visitor id (64 bits: collisions are negligible per project and day).
const ID_HEX_CHARS: usize = 16;

/// The fewest characters a configured secret may have.
pub const MIN_SECRET_CHARS: usize = 16;

/// Why the configured secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisitorSecretError {
    #[error(
        "VISITOR_ID_SECRET is not set: every api process needs the same secret, kept across \
         restarts, or one visitor counts as several (e.g. `openssl rand -hex 32`; for one process \
         on a developer's machine, VISITOR_ID_SECRET_EPHEMERAL=true makes one of its own)"
    )]
    Missing,
    #[error("VISITOR_ID_SECRET has {0} characters; it needs {MIN_SECRET_CHARS} or more")]
    TooShort(usize),
}

/// Computes visitor ids from a secret.
#[derive(Debug, Clone)]
pub struct VisitorIds {
    secret: Secret,
}

impl VisitorIds {
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: Secret::new(secret),
        }
    }

    /// Ids from a configured secret, which must be long enough not to be guessed.
    pub fn from_secret(secret: &str) -> Result<Self, VisitorSecretError> {
        match secret.chars().count() {
            0 => Err(VisitorSecretError::Missing),
            n if n < MIN_SECRET_CHARS => Err(VisitorSecretError::TooShort(n)),
            _ => Ok(Self::new(secret)),
        }
    }

    /// A secret made for this process only (256 random bits): ids then differ between replicas
    /// and restarts.
    pub fn random() -> Self {
        let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].map(|id| hex::encode(id.as_bytes()));
        Self::new(random.concat())
    }

    fn mac(key: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length.
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }

    /// The salt of `date`: HMAC(secret, date).
    fn daily_salt(&self, date: NaiveDate) -> Vec<u8> {
        let mut mac = Self::mac(self.secret.expose().as_bytes());
        mac.update(b"lakehouse visitor salt ");
        mac.update(date.to_string().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The visitor's id on `date` (UTC) in `project`.
    pub fn visitor_id(&self, date: NaiveDate, project: &str, ip: IpAddr, user_agent: &str) -> String {
        let mut mac = Self::mac(&self.daily_salt(date));
        for part in [
            project.as_bytes(),
            ip.to_string().as_bytes(),
            user_agent.as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let mut id = hex::encode(mac.finalize().into_bytes());
        id.truncate(ID_HEX_CHARS);
        id
    }
}

/// What a request with `DNT: 1` or `Sec-GPC: 1` gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PrivacyPolicy {
    /// Counted, without `visitor_id` and `user_id`.
    #[default]
    Anonymize,
    /// Not stored at all: answered 202 with `"accepted": 0, "dropped": n`.
    Drop,
    /// Treated like any other request.
    Ignore,
}

/// Whether the request asks not to be tracked: `DNT: 1` or `Sec-GPC: 1`. What it gets is the
/// [`PrivacyPolicy`]'s choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptOut(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for OptOut {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let says_one = |name: &str| {
            parts
                .headers
                .get(name)
                .is_some_and(|value| value.as_bytes().trim_ascii() == b"1")
        };
        Ok(Self(says_one("dnt") || says_one("sec-gpc")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use crate::test_app::{send, state};
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use serde_json::json;
    use std::net::SocketAddr;

    const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0";

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn the_same_visitor_on_the_same_day_has_one_id_on_every_replica() {
        let one = VisitorIds::new("s3cret");
        let other_replica = VisitorIds::new("s3cret");
        let id = one.visitor_id(day(23), "shop", ip(7), UA);
        assert_eq!(id, other_replica.visitor_id(day(23), "shop", ip(7), UA));
        assert_eq!(id.len(), 16);
        assert!(!id.contains("203"), "the IP is not readable in the id");
    }

    #[test]
    fn another_day_ip_agent_project_or_secret_gives_another_id() {
        let ids = VisitorIds::new("s3cret");
        let id = ids.visitor_id(day(23), "shop", ip(7), UA);
        assert_ne!(
            id,
            ids.visitor_id(day(24), "shop", ip(7), UA),
            "ids do not link days"
        );
        assert_ne!(id, ids.visitor_id(day(23), "shop", ip(8), UA));
        assert_ne!(id, ids.visitor_id(day(23), "shop", ip(7), "curl/8"));
        assert_ne!(id, ids.visitor_id(day(23), "blog", ip(7), UA));
        assert_ne!(
            id,
            VisitorIds::new("other").visitor_id(day(23), "shop", ip(7), UA)
        );
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
}
