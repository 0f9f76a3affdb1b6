//! The client's IP address, as the rate limits, the visitor id and GeoIP see it: the socket's
//! peer, or the first address of `X-Forwarded-For` only when the api is configured to sit behind
//! a proxy it trusts (otherwise any client could pick its own rate-limit bucket and country).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// Where the client's address comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The socket's peer.
    #[default]
    Peer,
    /// `X-Forwarded-For`'s first entry, else the peer: only behind a proxy that sets the header.
    ForwardedFor,
}

impl ClientIpSource {
    /// The client's address: the peer, or `X-Forwarded-For`'s first entry behind a trusted proxy.
    pub fn client_ip(self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if self == Self::ForwardedFor {
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
}

/// The client's address; `None` when the request came without a socket (a router test) and
/// without a trusted `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    ClientIpSource: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(
            ClientIpSource::from_ref(state).client_ip(peer, &parts.headers),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::{Rate, RateLimits};
    use crate::sink::MemorySink;
    use crate::test_app::{from_peer, geoip, send, state};

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate { per_second, burst }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let untrusting = ClientIpSource::Peer;
        assert_eq!(untrusting.client_ip(Some(peer), &headers), Some(peer));
        let trusting = ClientIpSource::ForwardedFor;
        let limits = RateLimits::new(rate(0, 0), rate(1, 1));
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(trusting.client_ip(Some(peer), &headers), Some(client));
        assert!(limits.check_ip(Some(client)).is_ok());
        assert!(limits.check_ip(Some(client)).is_err());
        assert!(
            limits.check_ip(Some(peer)).is_ok(),
            "the proxy's own bucket is untouched"
        );
    }

    #[tokio::test]
    async fn the_country_is_looked_up_for_the_same_client_ip_as_the_rate_limits() {
        let sink = MemorySink::default();
        let behind_proxy = state(&sink)
            .with_geoip(geoip())
            .with_client_ip_source(ClientIpSource::ForwardedFor);
        send(behind_proxy, from_peer("10.0.0.1", Some("81.2.69.7, 10.0.0.1"))).await;
        let untrusting = state(&sink).with_geoip(geoip());
        send(untrusting, from_peer("10.0.0.1", Some("81.2.69.7"))).await;
        let countries: Vec<_> = sink.events().into_iter().map(|e| e.country).collect();
        assert_eq!(
            countries,
            [Some("DE".to_string()), None],
            "X-Forwarded-For counts only when trusted"
        );
    }
}
