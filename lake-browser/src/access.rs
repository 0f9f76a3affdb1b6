//! Who may see the pages, and what every answer tells the browser. With a token, each page needs
//! it, as `Authorization: Bearer <token>` or as the session cookie the sign-in form sets; without
//! one the browser listens on loopback only (the config refuses otherwise) and serves only
//! requests addressed to a loopback name, so that a web site cannot read it through DNS
//! rebinding. Form posts from other sites are refused whatever the token. Every answer forbids
//! script, framing and sniffing (see [`SECURITY_HEADERS`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lakehouse_telemetry::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::PageError;
use crate::layout::STYLE_PATH;

/// The session cookie the sign-in form sets.
pub const COOKIE: &str = "lake_browser_session";

/// Paths served without the token: the probes, the metrics, the sign-in form and its style.
const OPEN_PATHS: [&str; 5] = ["/health", "/ready", "/metrics", "/login", STYLE_PATH];

/// Set on every answer. No script may run at all (no `script-src` but `default-src 'none'`), so
/// markup that slipped through escaping would still be inert; no site may frame the pages.
pub const SECURITY_HEADERS: [(&str, &str); 7] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
];

/// The token, if any, and the session cookie's value derived from it.
#[derive(Debug)]
pub struct Access {
    token: Option<Secret>,
    /// The cookie holds a digest of the token, not the token itself.
    session: Option<String>,
}

impl Access {
    pub fn new(token: Option<Secret>) -> Self {
        let session = token
            .as_ref()
            .map(|token| hex::encode(Sha256::digest(format!("lake-browser-session:{}", token.expose()))));
        Self { token, session }
    }

    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `offered` is the token.
    pub fn is_token(&self, offered: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|token| equal(token.expose(), offered))
    }

    /// Whether the request carries the token or the session cookie.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if bearer.is_some_and(|offered| self.is_token(offered.trim())) {
            return true;
        }
        let Some(session) = &self.session else {
            return false;
        };
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|cookie| cookie.trim().split_once('='))
            .any(|(name, value)| name == COOKIE && equal(session, value))
    }

    /// The `Set-Cookie` value that signs a browser in (`Secure` when it came over HTTPS).
    pub fn session_cookie(&self, secure: bool) -> Option<String> {
        let secure = if secure { "; Secure" } else { "" };
        self.session
            .as_ref()
            .map(|session| format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict{secure}"))
    }
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks every request against the access rules before its page runs.
pub async fn guard(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = OPEN_PATHS.contains(&path);
    let headers = request.headers();
    let refusal = if !access.token_required() && !open && !addressed_to_loopback(headers) {
        Some(PageError::Forbidden(
            "without a token the lake browser answers only requests addressed to localhost".into(),
        ))
    } else if request.method() == Method::POST && !same_origin(headers) {
        Some(PageError::Forbidden(
            "forms may be posted only from the lake browser's own pages".into(),
        ))
    } else if !open && access.token_required() && !access.admits(headers) {
        Some(PageError::Unauthorized)
    } else {
        None
    };
    match refusal {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    }
}

/// Adds [`SECURITY_HEADERS`] to an answer, and `Cache-Control: no-store` unless it has its own.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Whether the `Host` the client addressed is a loopback name or address.
fn addressed_to_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a post comes from this site's own pages: by `Sec-Fetch-Site` where the browser sends
/// it, else by `Origin` against `Host`; a client that sends neither (not a browser) passes.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match (text("origin"), text("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    #[test]
    fn the_token_or_its_cookie_admits_nothing_else_does() {
        let access = Access::new(Some(Secret::new("0123456789abcdef")));
        assert!(access.admits(&headers(&[("authorization", "Bearer 0123456789abcdef")])));
        assert!(!access.admits(&headers(&[("authorization", "Bearer 0123456789abcdeX")])));
        assert!(!access.admits(&headers(&[("authorization", "0123456789abcdef")])));
        assert!(!access.admits(&headers(&[])));
        let cookie = access.session_cookie(false).expect("a cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("0123456789abcdef"), "the cookie holds a digest");
        let pair = cookie.split(';').next().expect("name=value");
        assert!(access.admits(&headers(&[("cookie", &format!("theme=dark; {pair}"))])));
        assert!(!access.admits(&headers(&[("cookie", &format!("{COOKIE}=00"))])));
        assert!(
            access
                .session_cookie(true)
                .expect("a cookie")
                .ends_with("; Secure")
        );
    }

    #[test]
    fn loopback_names_and_addresses_only() {
        for host in [
            "localhost:8501",
            "127.0.0.1:8501",
            "127.0.0.1",
            "[::1]:8501",
            "LOCALHOST",
        ] {
            assert!(addressed_to_loopback(&headers(&[("host", host)])), "{host}");
        }
        for host in [
            "attacker.example:8501",
            "10.0.0.1:8501",
            "localhost.attacker.example",
        ] {
            assert!(!addressed_to_loopback(&headers(&[("host", host)])), "{host}");
        }
        assert!(!addressed_to_loopback(&headers(&[])));
    }

    #[test]
    fn posts_from_other_sites_are_told_apart() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8501"),
            ("host", "127.0.0.1:8501")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8501")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:8501")
        ])));
        assert!(same_origin(&headers(&[])));
    }
}
