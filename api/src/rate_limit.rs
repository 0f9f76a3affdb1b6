//! Rate limits (GCRA, via governor): events per second per project, requests per second per
//! client IP. The client IP is the socket's peer, or the first address of `X-Forwarded-For` only
//! when the api is configured to sit behind a proxy it trusts (otherwise any client could pick
//! its own limit bucket). A refusal says when to retry.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// A rate and the burst allowed above it; a rate of 0 turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_second = NonZeroU32::new(self.per_second)?;
        let burst = NonZeroU32::new(self.burst.max(self.per_second)).unwrap_or(per_second);
        Some(Quota::per_second(per_second).allow_burst(burst))
    }
}

/// The api's limits and what they have seen.
#[derive(Debug)]
pub struct RateLimits {
    per_project: Option<(DefaultKeyedRateLimiter<String>, Rate)>,
    per_ip: Option<(DefaultKeyedRateLimiter<IpAddr>, Rate)>,
    trust_forwarded_for: bool,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(project_events: Rate, ip_requests: Rate, trust_forwarded_for: bool) -> Self {
        Self {
            per_project: project_events
                .quota()
                .map(|quota| (DefaultKeyedRateLimiter::keyed(quota), project_events)),
            per_ip: ip_requests
                .quota()
                .map(|quota| (DefaultKeyedRateLimiter::keyed(quota), ip_requests)),
            trust_forwarded_for,
            clock: DefaultClock::default(),
        }
    }

    /// No limits at all (tests of other behaviour).
    pub fn unlimited() -> Self {
        let off = Rate {
            per_second: 0,
            burst: 0,
        };
        Self::new(off, off, false)
    }

    /// The client's address: the peer, or `X-Forwarded-For`'s first entry behind a trusted proxy.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if self.trust_forwarded_for {
            let forwarded = headers
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .and_then(|first| first.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        peer
    }

    /// Counts one request from `ip`.
    pub fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some((limiter, rate)), Some(ip)) = (&self.per_ip, ip) else {
            return Ok(());
        };
        limiter
            .check_key(&ip)
            .map_err(|not_until| self.refusal("client IP", *rate, not_until.wait_time_from(self.clock.now())))
    }

    /// Counts `events` events of `project`.
    pub fn check_project(&self, project: &str, events: usize) -> Result<(), ApiError> {
        let Some((limiter, rate)) = &self.per_project else {
            return Ok(());
        };
        let n = NonZeroU32::new(u32::try_from(events).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        match limiter.check_key_n(&project.to_string(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                Err(self.refusal("project", *rate, not_until.wait_time_from(self.clock.now())))
            }
            // More events in one request than the burst allows: never, at this limit.
            Err(_) => Err(self.refusal("project", *rate, Duration::from_secs(1))),
        }
    }

    /// Forgets buckets that are full again, so that memory follows the active clients.
    pub fn forget_idle(&self) {
        if let Some((limiter, _)) = &self.per_project {
            limiter.retain_recent();
        }
        if let Some((limiter, _)) = &self.per_ip {
            limiter.retain_recent();
        }
    }

    fn refusal(&self, scope: &'static str, rate: Rate, wait: Duration) -> ApiError {
        ApiError::RateLimited {
            scope,
            limit: rate.per_second,
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate { per_second, burst }
    }

    #[test]
    fn a_project_gets_its_burst_then_is_refused_with_a_wait() {
        let limits = RateLimits::new(rate(10, 20), rate(0, 0), false);
        assert!(limits.check_project("shop", 20).is_ok());
        let refused = limits.check_project("shop", 1).unwrap_err();
        assert!(matches!(
            refused,
            ApiError::RateLimited {
                scope: "project",
                limit: 10,
                retry_after_secs: 1
            }
        ));
        assert!(
            limits.check_project("other", 5).is_ok(),
            "projects have their own buckets"
        );
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let untrusting = RateLimits::new(rate(0, 0), rate(1, 1), false);
        assert_eq!(untrusting.client_ip(Some(peer), &headers), Some(peer));
        let trusting = RateLimits::new(rate(0, 0), rate(1, 1), true);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(trusting.client_ip(Some(peer), &headers), Some(client));
        assert!(trusting.check_ip(Some(client)).is_ok());
        assert!(trusting.check_ip(Some(client)).is_err());
        assert!(
            trusting.check_ip(Some(peer)).is_ok(),
            "the proxy's own bucket is untouched"
        );
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limits = RateLimits::unlimited();
        for _ in 0..1000 {
            assert!(limits.check_project("shop", 500).is_ok());
            assert!(limits.check_ip("127.0.0.1".parse().ok()).is_ok());
        }
    }
}
