//! Values that must never reach a log line, a panic message or `--help`: passwords, keys, secrets
//! and connection strings. A config field of these types prints redacted wherever the config is
//! formatted, so a new field cannot leak by being forgotten in a hand-written `Debug`.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// A secret string: `Debug` and `Display` print `<redacted>` (or `<empty>` when unset, so that a
/// missing secret is still visible); [`Secret::expose`] is the one way to read it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that hands it to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<empty>"
        } else {
            "<redacted>"
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(value))
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// A connection URL that may carry a password (`postgres://user:password@host/db?sslpassword=`):
/// formatted with its password and query replaced, so that the host and database still show in
/// logs. One that does not parse as `scheme://host...` (a `key=value` connection string, say) is
/// withheld whole, since the password could be anywhere in it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The URL itself, for the one place that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as logs may show it.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.has_host() => {
                parsed.set_fragment(None);
                if parsed.password().is_some() && parsed.set_password(Some("redacted")).is_err() {
                    return "<redacted>".into();
                }
                // A password may also come as a query parameter (`?password=`).
                if parsed.query().is_some() {
                    parsed.set_query(Some("redacted"));
                }
                parsed.to_string()
            }
            _ => "<redacted>".into(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl FromStr for SecretUrl {
    type Err = Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(value))
    }
}

impl From<String> for SecretUrl {
    fn from(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_formats_its_value() {
        let secret: Secret = "hunter2".parse().unwrap_or_default();
        assert_eq!(secret.expose(), "hunter2");
        for shown in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{:#?}", Some(&secret)),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        assert_eq!(format!("{:?}", Secret::default()), "<empty>");
    }

    #[test]
    fn a_url_shows_its_host_but_not_its_password_or_query() {
        let url = SecretUrl::new("postgres://lakehouse:db-pass@db:5432/lakehouse?sslpassword=x");
        let shown = format!("{url:?} {url}");
        assert!(
            !shown.contains("db-pass") && !shown.contains("sslpassword"),
            "{shown}"
        );
        assert!(shown.contains("db:5432/lakehouse"), "{shown}");
        assert_eq!(
            url.expose(),
            "postgres://lakehouse:db-pass@db:5432/lakehouse?sslpassword=x"
        );
    }

    #[test]
    fn a_url_that_does_not_parse_is_withheld_whole() {
        assert_eq!(
            SecretUrl::new("lakehouse:db-pass@db/lakehouse").redacted(),
            "<redacted>"
        );
        assert_eq!(
            SecretUrl::new("host=db password=db-pass").redacted(),
            "<redacted>"
        );
    }
}
