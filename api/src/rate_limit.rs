//! Rate limits (GCRA, via governor): events per second per project, requests per second per
//! client IP (see [`crate::client_ip`] for which address that is). A refusal says when to retry.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::client_ip::ClientIp;
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
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(project_events: Rate, ip_requests: Rate) -> Self {
        Self {
            per_project: project_events
                .quota()
                .map(|quota| (DefaultKeyedRateLimiter::keyed(quota), project_events)),
            per_ip: ip_requests
                .quota()
                .map(|quota| (DefaultKeyedRateLimiter::keyed(quota), ip_requests)),
            clock: DefaultClock::default(),
        }
    }

    /// No limits at all (tests of other behaviour).
    pub fn unlimited() -> Self {
        let off = Rate {
            per_second: 0,
            burst: 0,
        };
        Self::new(off, off)
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

/// The per-IP limit as a layer of `POST /analytics`: counted before the key is looked at, so that a
/// key-guessing flood is cut off.
pub async fn limit_client_ip(
    State(limits): State<Arc<RateLimits>>,
    ClientIp(ip): ClientIp,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    limits.check_ip(ip)?;
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use crate::test_app::{event, send, state};
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use serde_json::json;
    use std::net::SocketAddr;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate { per_second, burst }
    }

    #[test]
    fn a_project_gets_its_burst_then_is_refused_with_a_wait() {
        let limits = RateLimits::new(rate(10, 20), rate(0, 0));
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
    fn a_rate_of_zero_is_no_limit() {
        let limits = RateLimits::unlimited();
        for _ in 0..1000 {
            assert!(limits.check_project("shop", 500).is_ok());
            assert!(limits.check_ip("127.0.0.1".parse().ok()).is_ok());
        }
    }

    /// Limits of (rate, burst) per project and per client IP.
    fn rate_limits(project: (u32, u32), ip: (u32, u32)) -> Arc<RateLimits> {
        let rate = |(per_second, burst)| Rate { per_second, burst };
        Arc::new(RateLimits::new(rate(project), rate(ip)))
    }

    #[tokio::test]
    async fn past_a_project_rate_limit_is_429_with_when_to_retry_and_nothing_sent() {
        let sink = MemorySink::default();
        let limits = rate_limits((1, 2), (0, 0));
        let request = || {
            Request::post("/analytics")
                .header("x-api-key", "key-1")
                .body(Body::from(json!([event("a"), event("b")]).to_string()))
                .unwrap()
        };
        let limited = state(&sink).with_rate_limits(limits);
        assert_eq!(send(limited.clone(), request()).await.0, StatusCode::ACCEPTED);
        let (status, headers, body) = send(limited, request()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        assert_eq!(headers["ratelimit-limit"], "1");
        assert_eq!(headers["ratelimit-remaining"], "0");
        assert!(headers.contains_key("ratelimit-reset"));
        assert_eq!(sink.events().len(), 2, "the refused request sent nothing");
    }

    #[tokio::test]
    async fn past_a_client_ip_rate_limit_is_429() {
        let sink = MemorySink::default();
        let limits = rate_limits((0, 0), (1, 1));
        let limited = state(&sink).with_rate_limits(limits);
        let from = |ip: [u8; 4]| {
            let mut request = Request::post("/analytics")
                .header("x-api-key", "key-1")
                .body(Body::from(event("a").to_string()))
                .unwrap();
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((ip, 4000))));
            request
        };
        assert_eq!(
            send(limited.clone(), from([198, 51, 100, 9])).await.0,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            send(limited.clone(), from([198, 51, 100, 9])).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            send(limited, from([198, 51, 100, 10])).await.0,
            StatusCode::ACCEPTED,
            "another client"
        );
    }
}
