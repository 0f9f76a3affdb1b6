//! The client's IP address, as the rate limits, the visitor id and GeoIP see it: the socket's
//! peer, or, behind proxies the api is told to trust (`TRUSTED_PROXIES`), the address the
//! nearest untrusted hop connected from, read from the right of `X-Forwarded-For`.
//!
//! Proxies that append (nginx's `$proxy_add_x_forwarded_for`, cloud load balancers) keep what the
//! client sent at the left of the header, so only the entries our own proxies added, counted from
//! the right, can be believed (DESIGN.md §4.2). Written here rather than taken from a crate: the
//! maintained ones either take only the rightmost entry (`axum-client-ip`, one proxy and no
//! ranges) or prefer a `Forwarded` or `X-Real-IP` header when there is one (`real-ip`), which an
//! appending proxy passes through from the client unchanged. `ipnet` parses the ranges.

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

/// Which proxies in front of the api are believed when they say who the client is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TrustedProxies {
    /// None: the client is the socket's peer, and `X-Forwarded-For` is ignored.
    #[default]
    None,
    /// This many proxies, the peer first, each appending the address it was connected from: the
    /// client is the entry this many places from the right of the chain (`X-Forwarded-For`'s
    /// entries, then the peer).
    Hops(NonZeroUsize),
    /// Proxies at these addresses: the client is the rightmost address of the chain outside them.
    Networks(Vec<IpNet>),
}

/// `TRUSTED_PROXIES` that is neither empty, a count of proxies, nor a list of addresses/ranges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a proxy count or an address: TRUSTED_PROXIES is empty (no proxy), a count of \
     proxies in front of the api (e.g. 1 behind one ingress) or addresses and CIDR ranges, \
     comma-separated (e.g. 10.0.0.0/8,192.168.0.0/16)"
)]
pub struct TrustedProxiesError(String);

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() || text == "0" {
            return Ok(Self::None);
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse::<NonZeroUsize>()
                .map(Self::Hops)
                .map_err(|_| TrustedProxiesError(text.into()));
        }
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| TrustedProxiesError(entry.into()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self::Networks)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => Ok(()),
            Self::Hops(hops) => write!(f, "{hops}"),
            Self::Networks(networks) => {
                let list: Vec<_> = networks.iter().map(IpNet::to_string).collect();
                f.write_str(&list.join(","))
            }
        }
    }
}

impl TrustedProxies {
    /// The client's address for a request from `peer` with `headers`.
    ///
    /// An entry that does not parse where the client's address should be (something a proxy
    /// wrote badly, or a chain longer than expected) gives the peer: never anything further left,
    /// which the client may have written.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if *self == Self::None {
            return Some(peer);
        }
        // Several header lines are one list, in order (RFC 9110 §5.3).
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        // The chain from the client's side to ours: what proxies wrote, then the peer.
        let chain_len = forwarded.len() + 1;
        let at = |i: usize| -> Option<IpAddr> {
            if i == chain_len - 1 {
                Some(peer)
            } else {
                parse_hop(forwarded[i])
            }
        };
        match self {
            Self::None => Some(peer),
            Self::Hops(hops) => {
                // Fewer entries than proxies: the request came in past some of them (a probe from
                // inside); the leftmost is as far as the chain goes.
                let index = chain_len.saturating_sub(1 + hops.get());
                Some(at(index).unwrap_or(peer))
            }
            Self::Networks(networks) => {
                let trusted = |ip: &IpAddr| networks.iter().any(|net| net.contains(ip));
                for index in (0..chain_len).rev() {
                    match at(index) {
                        Some(ip) if trusted(&ip) && index > 0 => continue,
                        Some(ip) => return Some(ip),
                        None => return Some(peer),
                    }
                }
                Some(peer)
            }
        }
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:80`), as some proxies write it.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// The client's address; `None` when the request came without a socket (a router test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    Arc<TrustedProxies>: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(
            <Arc<TrustedProxies>>::from_ref(state).client_ip(peer, &parts.headers),
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        headers
    }

    fn proxies(text: &str) -> TrustedProxies {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(
            TrustedProxies::None.client_ip(Some(ip("10.0.0.1")), &headers),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(proxies(""), TrustedProxies::None);
        assert_eq!(proxies("0"), TrustedProxies::None);
    }

    #[test]
    fn behind_an_appending_proxy_what_the_client_sent_is_ignored() {
        // The client sent `X-Forwarded-For: 198.51.100.66`; the ingress (the peer, 10.0.0.1)
        // appended the address the client connected from.
        let headers = forwarded(&["198.51.100.66, 203.0.113.7"]);
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(proxies("1").client_ip(peer, &headers), Some(ip("203.0.113.7")));
        assert_eq!(
            proxies("10.0.0.0/8").client_ip(peer, &headers),
            Some(ip("203.0.113.7"))
        );
        // Two proxies: a load balancer (10.0.0.9) in front of the ingress.
        let headers = forwarded(&["198.51.100.66", "203.0.113.7, 10.0.0.9"]);
        assert_eq!(proxies("2").client_ip(peer, &headers), Some(ip("203.0.113.7")));
        assert_eq!(
            proxies("10.0.0.0/8, 192.168.1.4").client_ip(peer, &headers),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn a_peer_outside_the_trusted_ranges_is_the_client() {
        let headers = forwarded(&["198.51.100.66"]);
        assert_eq!(
            proxies("10.0.0.0/8").client_ip(Some(ip("203.0.113.7")), &headers),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn short_chains_and_bad_entries_never_reach_further_left() {
        let peer = Some(ip("10.0.0.1"));
        // A probe from inside: no header at all.
        assert_eq!(proxies("2").client_ip(peer, &HeaderMap::new()), peer);
        assert_eq!(proxies("10.0.0.0/8").client_ip(peer, &HeaderMap::new()), peer);
        // Garbage where the client's address should be: the peer, not the client's choice.
        let headers = forwarded(&["198.51.100.66, not-an-ip"]);
        assert_eq!(proxies("1").client_ip(peer, &headers), peer);
        assert_eq!(proxies("10.0.0.0/8").client_ip(peer, &headers), peer);
        // Ports, as some load balancers write them.
        let headers = forwarded(&["203.0.113.7:51234"]);
        assert_eq!(proxies("1").client_ip(peer, &headers), Some(ip("203.0.113.7")));
        let headers = forwarded(&["[2001:db8::7]:443"]);
        assert_eq!(proxies("1").client_ip(peer, &headers), Some(ip("2001:db8::7")));
    }

    #[test]
    fn the_setting_parses_counts_and_ranges_and_names_a_bad_entry() {
        assert_eq!(proxies("3"), TrustedProxies::Hops(NonZeroUsize::new(3).unwrap()));
        assert_eq!(
            proxies(" 10.0.0.0/8 ,fd00::/8,192.168.1.4 ").to_string(),
            "10.0.0.0/8,fd00::/8,192.168.1.4/32"
        );
        let error = "10.0.0.0/8,ingress".parse::<TrustedProxies>().unwrap_err();
        assert!(error.to_string().contains("`ingress`"), "{error}");
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn the_rate_limit_bucket_is_the_clients_not_the_proxys() {
        let headers = forwarded(&["198.51.100.66, 203.0.113.7"]);
        let peer = ip("10.0.0.1");
        let limits = RateLimits::new(rate(0, 0), rate(1, 1));
        let client = proxies("1").client_ip(Some(peer), &headers);
        assert_eq!(client, Some(ip("203.0.113.7")));
        assert!(limits.check_ip(client).is_ok());
        assert!(limits.check_ip(client).is_err());
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
            .with_trusted_proxies(proxies("1"));
        send(
            behind_proxy,
            from_peer("10.0.0.1", Some("203.0.113.9, 81.2.69.7")),
        )
        .await;
        let untrusting = state(&sink).with_geoip(geoip());
        send(untrusting, from_peer("10.0.0.1", Some("81.2.69.7"))).await;
        let countries: Vec<_> = sink.events().into_iter().map(|e| e.country).collect();
        assert_eq!(
            countries,
            [Some("DE".to_string()), None],
            "X-Forwarded-For counts only behind trusted proxies, from the right"
        );
    }
}
