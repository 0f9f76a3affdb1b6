//! The api's configuration: every setting has a flag and an environment variable, and the defaults
//! run against the local stack.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lakehouse_event::EventLimits;
use lakehouse_kafka::KafkaArgs;
use lakehouse_telemetry::{LogFormat, Secret, SecretUrl};

use crate::client_ip::TrustedProxies;
use crate::cors::{CorsError, CorsPolicy};
use crate::geoip::{GeoIp, GeoIpError};
use crate::keys::{ApiKeys, KeyError};
use crate::rate_limit::{Rate, RateLimits};
use crate::visitor::{PrivacyPolicy, VisitorIds, VisitorSecretError};

/// How long a client may take to send its body, unless configured otherwise.
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Requests handled at once, unless configured otherwise.
const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1_024;

// Secrets format redacted through their field types, so the whole config may be logged.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-api",
    version,
    about = "Ingests product-analytics events into Kafka"
)]
pub struct ApiConfig {
    #[command(subcommand)]
    pub command: Option<ApiCommand>,
    /// Where to listen for HTTP.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:3001")]
    pub listen_addr: SocketAddr,
    /// Ingest keys, comma-separated, each `project_id:key` or `project_id:sha256:<hex of the key>`.
    #[arg(long, env = "API_KEYS", default_value = "", hide_env_values = true)]
    pub api_keys: ApiKeysArg,
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
    #[arg(long, env = "MAX_EVENT_BYTES", default_value_t = EventLimits::default().max_event_bytes)]
    pub max_event_bytes: usize,
    /// The most top-level keys in an event's `properties`.
    #[arg(long, env = "MAX_PROPERTY_KEYS", default_value_t = EventLimits::default().max_property_keys)]
    pub max_property_keys: usize,
    /// Events per second each project may send (0: no limit)...
    #[arg(long, env = "RATE_LIMIT_PROJECT_EVENTS_PER_SEC", default_value_t = 5_000)]
    pub rate_limit_project_events_per_sec: u32,
    /// ...and how many above that rate it may send at once.
    #[arg(long, env = "RATE_LIMIT_PROJECT_BURST", default_value_t = 20_000)]
    pub rate_limit_project_burst: u32,
    /// Requests per second from one client IP (0: no limit)...
    #[arg(long, env = "RATE_LIMIT_IP_REQUESTS_PER_SEC", default_value_t = 100)]
    pub rate_limit_ip_requests_per_sec: u32,
    /// ...and its burst.
    #[arg(long, env = "RATE_LIMIT_IP_BURST", default_value_t = 400)]
    pub rate_limit_ip_burst: u32,
    /// The proxies in front of the api (an ingress, a load balancer) that append the address
    /// they were connected from to `X-Forwarded-For`: empty for none (the client is the socket's
    /// peer), how many there are (`1` behind one ingress), or their addresses and CIDR ranges,
    /// comma-separated. The client is read from the right, so what it sends itself is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Replaced by TRUSTED_PROXIES: it took `X-Forwarded-For`'s first entry, which a client
    /// behind an appending proxy chooses itself. Set, the api refuses to start and says so.
    #[arg(long, env = "TRUST_FORWARDED_FOR", hide = true)]
    pub trust_forwarded_for: bool,
    /// A request not answered within this time is answered 408.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = DEFAULT_REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,
    /// Requests handled at once; past it new ones are shed with 503 at once rather than queued.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = DEFAULT_MAX_CONCURRENT_REQUESTS)]
    pub max_concurrent_requests: usize,
    /// Origins browsers may post from (comma-separated, e.g. `https://shop.example`), or `*`:
    /// for every project without its own list in CORS_PROJECT_ORIGINS.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "*")]
    pub cors_allowed_origins: String,
    /// Projects' own origin lists, replacing CORS_ALLOWED_ORIGINS for them:
    /// `project=origin|origin;project=*` (e.g. `shop=https://shop.example|https://www.shop.example`).
    /// A browser request from an origin its project does not allow is answered 403.
    #[arg(long, env = "CORS_PROJECT_ORIGINS", default_value = "")]
    pub cors_project_origins: String,
    /// A MaxMind DB file (MaxMind's or DB-IP's country or city database) to set events' `country`
    /// from the client IP; unset, `country` stays null. Read into memory at start-up: a file that
    /// cannot be read stops the api from starting.
    #[arg(long, env = "GEOIP_DATABASE")]
    pub geoip_database: Option<PathBuf>,
    /// PostgreSQL holding the `api_keys` table (keys made with `lakehouse-api keys create`),
    /// checked beside `API_KEYS`; unset, only `API_KEYS` counts.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretUrl>,
    /// How often stored keys are reloaded (a revoked key stops working within this time).
    #[arg(long, env = "API_KEYS_REFRESH_SECS", default_value_t = 30)]
    pub api_keys_refresh_secs: u64,
    /// The secret visitor ids are derived from (with the UTC date), 16 characters or more: every
    /// replica needs the same one, kept across restarts, or one visitor counts as several. The
    /// api refuses to start without it.
    #[arg(long, env = "VISITOR_ID_SECRET", default_value = "", hide_env_values = true)]
    pub visitor_id_secret: Secret,
    /// Without VISITOR_ID_SECRET, make a secret for this process only (ids then differ between
    /// processes and restarts): for one api on a developer's machine, never for replicas.
    #[arg(long, env = "VISITOR_ID_SECRET_EPHEMERAL")]
    pub visitor_id_secret_ephemeral: bool,
    /// What requests with `DNT: 1` or `Sec-GPC: 1` get: `anonymize` (counted, without
    /// `visitor_id` and `user_id`), `drop` (not stored) or `ignore`.
    #[arg(long, env = "PRIVACY_POLICY", value_enum, default_value_t = PrivacyPolicy::default())]
    pub privacy_policy: PrivacyPolicy,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// `API_KEYS` as configured, parsed by [`ApiKeysArg::keys`] when the api starts (so that the
/// `keys` commands run whatever it holds). Formats as the number of entries, never the keys.
#[derive(Clone, Default)]
pub struct ApiKeysArg(Secret);

impl ApiKeysArg {
    pub fn keys(&self) -> Result<ApiKeys, KeyError> {
        ApiKeys::parse(self.0.expose())
    }

    fn entries(&self) -> usize {
        self.0
            .expose()
            .split(',')
            .filter(|key| !key.trim().is_empty())
            .count()
    }
}

impl fmt::Debug for ApiKeysArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} redacted>", self.entries())
    }
}

impl FromStr for ApiKeysArg {
    type Err = Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(Secret::new(value)))
    }
}

/// Request-level limits (413 past them) and the per-event limits handed to validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    pub max_body_bytes: usize,
    pub max_batch_events: usize,
    pub event: EventLimits,
}

/// Limits on the HTTP exchange itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client may take to send its body (408 past it). Not applied to the produce,
    /// which has its own timeout: an event handed to Kafka is never answered with a timeout.
    pub request_timeout: Duration,
    /// Requests handled at once; more are answered 503 at once (load shedding).
    pub max_concurrent_requests: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ApiCommand {
    /// Serve `POST /analytics` (the default).
    Serve,
    /// A subcommand that moved to `lakehouse` (see [`MOVED`]).
    #[command(external_subcommand)]
    Moved(Vec<String>),
}

/// The api's old subcommands and where they went.
pub const MOVED: lakehouse_telemetry::Moves = &[("keys", "lakehouse keys")];

impl ApiConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        anyhow::ensure!(self.produce_timeout_ms > 0, "PRODUCE_TIMEOUT_MS must be positive");
        anyhow::ensure!(self.max_batch_events > 0, "MAX_BATCH_EVENTS must be positive");
        anyhow::ensure!(
            !self.trust_forwarded_for,
            "TRUST_FORWARDED_FOR is replaced by TRUSTED_PROXIES: it believed X-Forwarded-For's first \
             entry, which a client behind an appending proxy chooses itself. Set TRUSTED_PROXIES=1 \
             behind one proxy (its count, or its addresses), and unset TRUST_FORWARDED_FOR"
        );
        self.cors()
            .map_err(|error| anyhow::anyhow!("CORS_ALLOWED_ORIGINS / CORS_PROJECT_ORIGINS: {error}"))?;
        self.visitor_ids()?;
        Ok(())
    }

    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }

    pub fn api_keys_refresh(&self) -> Duration {
        Duration::from_secs(self.api_keys_refresh_secs.max(1))
    }

    /// The visitor ids' secret: VISITOR_ID_SECRET, or with VISITOR_ID_SECRET_EPHEMERAL and no
    /// secret, one made for this process (logged as such).
    pub fn visitor_ids(&self) -> Result<VisitorIds, VisitorSecretError> {
        if self.visitor_id_secret.is_empty() && self.visitor_id_secret_ephemeral {
            tracing::warn!(
                "VISITOR_ID_SECRET_EPHEMERAL: visitor ids come from a secret of this process only, \
                 so they differ from every other api process and change when it restarts"
            );
            return Ok(VisitorIds::random());
        }
        VisitorIds::from_secret(self.visitor_id_secret.expose())
    }

    pub fn rate_limits(&self) -> RateLimits {
        RateLimits::new(
            Rate {
                per_second: self.rate_limit_project_events_per_sec,
                burst: self.rate_limit_project_burst,
            },
            Rate {
                per_second: self.rate_limit_ip_requests_per_sec,
                burst: self.rate_limit_ip_burst,
            },
        )
    }

    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_concurrent_requests: self.max_concurrent_requests.max(1),
        }
    }

    pub fn cors(&self) -> Result<CorsPolicy, CorsError> {
        CorsPolicy::parse(&self.cors_allowed_origins, &self.cors_project_origins)
    }

    /// The GeoIP database if one is configured (an empty path counts as none).
    pub fn geoip(&self) -> Result<GeoIp, GeoIpError> {
        match &self.geoip_database {
            Some(path) if !path.as_os_str().is_empty() => GeoIp::open(path),
            _ => Ok(GeoIp::disabled()),
        }
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
    fn debug_output_shows_no_secret() {
        let config = ApiConfig::parse_from([
            "lakehouse-api",
            "--api-keys",
            "shop:plain-key-1,blog:sha256:0123456789abcdef",
            "--database-url",
            "postgres://lakehouse:db-pass-2@db.internal:5432/lakehouse?sslpassword=ssl-pass-3",
            "--visitor-id-secret",
            "visitor-secret-4",
            "--kafka-sasl-password",
            "sasl-pass-5",
        ]);
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            for secret in [
                "plain-key-1",
                "0123456789abcdef",
                "db-pass-2",
                "ssl-pass-3",
                "visitor-secret-4",
                "sasl-pass-5",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("db.internal:5432"), "{shown}");
            assert!(shown.contains("<2 redacted>"), "{shown}");
            assert!(shown.contains("listen_addr"), "{shown}");
        }
    }

    #[test]
    fn misspelt_cors_origins_stop_the_start() {
        let config = ApiConfig::parse_from([
            "lakehouse-api",
            "--cors-project-origins",
            "shop=https://shop.example/",
        ]);
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("https://shop.example"), "{error}");
    }

    #[test]
    fn no_visitor_secret_no_start_unless_one_process_asks_for_its_own() {
        let error = ApiConfig::parse_from(["lakehouse-api"]).validate().unwrap_err();
        assert!(error.to_string().contains("VISITOR_ID_SECRET"), "{error}");
        let short = ApiConfig::parse_from(["lakehouse-api", "--visitor-id-secret", "too-short"]);
        assert!(
            short
                .validate()
                .unwrap_err()
                .to_string()
                .contains("needs 16 or more")
        );
        let ephemeral = ApiConfig::parse_from(["lakehouse-api", "--visitor-id-secret-ephemeral"]);
        ephemeral.validate().unwrap();
        let one = ephemeral.visitor_ids().unwrap();
        let other = ephemeral.visitor_ids().unwrap();
        let (day, ip) = (chrono::NaiveDate::MIN, std::net::IpAddr::from([203, 0, 113, 7]));
        assert_ne!(
            one.visitor_id(day, "p", ip, "ua"),
            other.visitor_id(day, "p", ip, "ua")
        );
    }

    #[test]
    fn the_old_first_entry_setting_stops_the_start_and_names_its_replacement() {
        let config = ApiConfig::parse_from([
            "lakehouse-api",
            "--visitor-id-secret-ephemeral",
            "--trust-forwarded-for",
        ]);
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("TRUSTED_PROXIES=1"), "{error}");
        let bad = ApiConfig::try_parse_from(["lakehouse-api", "--trusted-proxies", "ingress"]);
        assert!(bad.unwrap_err().to_string().contains("`ingress`"));
    }

    #[test]
    fn defaults_parse_and_run_locally() {
        let config = ApiConfig::parse_from(["lakehouse-api", "--visitor-id-secret-ephemeral"]);
        config.validate().unwrap();
        assert_eq!(config.listen_addr.port(), 3001);
        assert_eq!(config.limits().max_body_bytes, 1024 * 1024);
        assert_eq!(config.limits().max_batch_events, 500);
        assert_eq!(config.limits().event, EventLimits::default());
        assert_eq!(config.cors().unwrap(), CorsPolicy::default());
        assert!(!config.geoip().unwrap().is_enabled());
        assert_eq!(config.trusted_proxies, TrustedProxies::None);
    }
}
