//! `visitor_id`: who is the same visitor today, without storing who they are. The id is an HMAC
//! of the project, the client IP and the user agent under a salt that changes every UTC day; the
//! salt is itself derived from a configured secret and the date, so every replica computes the
//! same id without talking to the others, and nobody can link a visitor across days or recover
//! the IP from an id. The raw IP is used here and for rate limiting, never stored or logged.

use std::net::IpAddr;

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hex characters of a visitor id (64 bits: collisions are negligible per project and day).
const ID_HEX_CHARS: usize = 16;

/// Computes visitor ids from a secret.
#[derive(Clone)]
pub struct VisitorIds {
    secret: Vec<u8>,
}

impl std::fmt::Debug for VisitorIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisitorIds(<secret>)")
    }
}

impl VisitorIds {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// A secret made for this process only: ids then differ between replicas and restarts.
    pub fn random() -> Self {
        let mut secret = uuid::Uuid::new_v4().as_bytes().to_vec();
        secret.extend(uuid::Uuid::new_v4().as_bytes());
        Self { secret }
    }

    fn mac(key: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length.
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }

    /// The salt of `date`: HMAC(secret, date).
    fn daily_salt(&self, date: NaiveDate) -> Vec<u8> {
        let mut mac = Self::mac(&self.secret);
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrivacyPolicy {
    /// Counted, without `visitor_id` and `user_id`.
    Anonymize,
    /// Not stored at all: answered 202 with `"accepted": 0, "dropped": n`.
    Drop,
    /// Treated like any other request.
    Ignore,
}

/// Whether the request asks not to be tracked: `DNT: 1` or `Sec-GPC: 1`. Such requests get no
/// `visitor_id` (see [`PrivacyPolicy`]).
pub fn opted_out(headers: &axum::http::HeaderMap) -> bool {
    ["dnt", "sec-gpc"].iter().any(|name| {
        headers
            .get(*name)
            .is_some_and(|value| value.as_bytes().trim_ascii() == b"1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
