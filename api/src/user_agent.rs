//! Browser, operating system and device type from the `User-Agent` header (woothee's dataset).

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

/// The `User-Agent` header as sent; empty when missing or not text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        Ok(Self(value.to_string()))
    }
}

/// What a user agent says about the client; `None` where it does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    pub browser: Option<String>,
    pub os: Option<String>,
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub device_type: Option<String>,
}

/// Parses a `User-Agent` value.
pub fn parse(user_agent: &str) -> Client {
    let Some(parsed) = woothee::parser::Parser::new().parse(user_agent) else {
        return Client::default();
    };
    let known = |value: &str| {
        (!value.is_empty() && value != woothee::woothee::VALUE_UNKNOWN).then(|| value.to_string())
    };
    let device_type = match parsed.category {
        "pc" => Some("desktop"),
        "smartphone" if parsed.os == "iPad" || user_agent.contains("Tablet") => Some("tablet"),
        "smartphone" | "mobilephone" => Some("mobile"),
        "crawler" => Some("bot"),
        "appliance" | "misc" => Some("other"),
        _ => None,
    };
    Client {
        browser: known(parsed.name),
        os: known(parsed.os),
        device_type: device_type.map(String::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktop_mobile_tablet_and_bots_are_told_apart() {
        let chrome = parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        );
        assert_eq!(chrome.browser.as_deref(), Some("Chrome"));
        assert_eq!(chrome.os.as_deref(), Some("Windows 10"));
        assert_eq!(chrome.device_type.as_deref(), Some("desktop"));
        let iphone = parse(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(iphone.device_type.as_deref(), Some("mobile"));
        assert_eq!(iphone.os.as_deref(), Some("iPhone"));
        let ipad = parse(
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(ipad.device_type.as_deref(), Some("tablet"));
        let bot = parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(bot.device_type.as_deref(), Some("bot"));
    }

    #[test]
    fn an_unknown_agent_says_nothing() {
        assert_eq!(parse("my-own-client/1.0"), Client::default());
        assert_eq!(parse(""), Client::default());
    }
}
