//! The api's configuration: every setting has a flag and an environment variable, and the defaults
//! run against the local stack.

use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_event::EventLimits;
use lakehouse_kafka::KafkaArgs;
use lakehouse_telemetry::LogFormat;

use crate::body::RequestLimits;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-api",
    version,
    about = "Ingests product-analytics events into Kafka"
)]
pub struct ApiConfig {
    /// Where to listen for HTTP.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:3001")]
    pub listen_addr: SocketAddr,
    /// Ingest keys, comma-separated, each `project_id:key` or `project_id:sha256:<hex of the key>`.
    #[arg(long, env = "API_KEYS", default_value = "", hide_env_values = true)]
    pub api_keys: String,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// How long Kafka may take to acknowledge an event before the request is answered 503.
    #[arg(long, env = "PRODUCE_TIMEOUT_MS", default_value_t = 5000)]
    pub produce_timeout_ms: u64,
    /// The largest request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// The most events in one request.
    #[arg(long, env = "MAX_BATCH_EVENTS", default_value_t = 500)]
    pub max_batch_events: usize,
    /// The largest event, in bytes of JSON.
    #[arg(long, env = "MAX_EVENT_BYTES", default_value_t = 32 * 1024)]
    pub max_event_bytes: usize,
    /// The most top-level keys in an event's `properties`.
    #[arg(long, env = "MAX_PROPERTY_KEYS", default_value_t = 64)]
    pub max_property_keys: usize,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
}

impl ApiConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        anyhow::ensure!(self.produce_timeout_ms > 0, "PRODUCE_TIMEOUT_MS must be positive");
        anyhow::ensure!(self.max_batch_events > 0, "MAX_BATCH_EVENTS must be positive");
        Ok(())
    }

    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }

    pub fn limits(&self) -> RequestLimits {
        RequestLimits {
            max_body_bytes: self.max_body_bytes,
            max_batch_events: self.max_batch_events,
            event: EventLimits {
                max_event_bytes: self.max_event_bytes,
                max_property_keys: self.max_property_keys,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_parse_and_run_locally() {
        let config = ApiConfig::parse_from(["lakehouse-api"]);
        config.validate().unwrap();
        assert_eq!(config.listen_addr.port(), 3001);
        assert_eq!(config.limits().max_body_bytes, 1024 * 1024);
        assert_eq!(config.limits().max_batch_events, 500);
        assert_eq!(config.limits().event, EventLimits::default());
    }
}
