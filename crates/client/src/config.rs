//! What a [`crate::Client`] sends where, and how much it holds.

use std::time::Duration;

use crate::{Error, RetryPolicy};

/// The api takes at most this many bytes of JSON per event (`MAX_EVENT_BYTES`' default).
pub(crate) const MAX_EVENT_BYTES: usize = 32 * 1024;

/// The API key: kept out of `Debug` output, so that a logged configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(pub String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A client's settings; [`ClientConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The api's ingest URL, e.g. `https://events.example.com/analytics`.
    pub endpoint: String,
    pub api_key: ApiKey,
    /// Send when this many events are queued (the api takes at most 500 a request).
    pub batch_size: usize,
    /// Send at most this long after the first event of a batch was queued.
    pub flush_interval: Duration,
    /// Events waiting to be sent, at most (beyond it `try_track` refuses and `track` waits).
    pub max_queue: usize,
    /// Bytes of JSON waiting to be sent or being sent, at most.
    pub max_queue_bytes: usize,
    pub retry: RetryPolicy,
    /// The longest one request may take.
    pub request_timeout: Duration,
    /// gzip request bodies above 1 KiB.
    pub gzip: bool,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            api_key: ApiKey(api_key.into()),
            batch_size: 100,
            flush_interval: Duration::from_secs(1),
            max_queue: 10_000,
            max_queue_bytes: 16 << 20,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            gzip: true,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !(1..=500).contains(&self.batch_size) {
            return Err(Error::Config(format!(
                "batch_size {} is not within 1..=500",
                self.batch_size
            )));
        }
        if self.max_queue == 0 || self.max_queue_bytes < MAX_EVENT_BYTES {
            return Err(Error::Config(format!(
                "max_queue must be at least 1 and max_queue_bytes at least {MAX_EVENT_BYTES}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_the_key_is_not_printed() {
        let config = ClientConfig::new("http://127.0.0.1:3001/analytics", "secret-key-1");
        assert!(config.validate().is_ok());
        assert!(!format!("{config:?}").contains("secret-key-1"));
    }

    #[test]
    fn a_batch_over_the_api_limit_is_refused() {
        let mut config = ClientConfig::new("http://127.0.0.1:3001/analytics", "k");
        config.batch_size = 501;
        assert!(matches!(config.validate(), Err(Error::Config(_))));
    }
}
