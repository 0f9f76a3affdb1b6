//! Client configuration from the environment: brokers, topics, security settings passed through to
//! librdkafka, and the fixed producer and consumer settings the guarantees rely on.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lakehouse_telemetry::Secret;
use rdkafka::ClientConfig;

/// The consumers' `session.timeout.ms`: the group drops a member it has not heard from for that
/// long.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Kafka settings shared by every binary; flatten it into a binary's config. Secrets and the values
/// of extra properties never show when it is formatted.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Bootstrap brokers, comma-separated.
    #[arg(
        long = "kafka-brokers",
        env = "KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,
    /// The events topic.
    #[arg(long = "kafka-topic", env = "KAFKA_TOPIC", default_value = "analytics.events")]
    pub topic: String,
    /// Where consumers put messages they cannot decode.
    #[arg(
        long = "kafka-dlq-topic",
        env = "KAFKA_DLQ_TOPIC",
        default_value = "analytics.events.dlq"
    )]
    pub dlq_topic: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[arg(
        long = "kafka-security-protocol",
        env = "KAFKA_SECURITY_PROTOCOL",
        default_value = "plaintext"
    )]
    pub security_protocol: String,
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    #[arg(long = "kafka-sasl-mechanism", env = "KAFKA_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    #[arg(long = "kafka-sasl-username", env = "KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    #[arg(
        long = "kafka-sasl-password",
        env = "KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<Secret>,
    /// CA bundle (PEM) to verify the brokers.
    #[arg(long = "kafka-ssl-ca-location", env = "KAFKA_SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<String>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(
        long = "kafka-ssl-certificate-location",
        env = "KAFKA_SSL_CERTIFICATE_LOCATION"
    )]
    pub ssl_certificate_location: Option<String>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long = "kafka-ssl-key-location", env = "KAFKA_SSL_KEY_LOCATION")]
    pub ssl_key_location: Option<String>,
    #[arg(
        long = "kafka-ssl-key-password",
        env = "KAFKA_SSL_KEY_PASSWORD",
        hide_env_values = true
    )]
    pub ssl_key_password: Option<Secret>,
    /// Further librdkafka properties as `key=value`, comma-separated, for every client; they
    /// override ours.
    #[arg(long = "kafka-config", env = "KAFKA_CONFIG", value_delimiter = ',')]
    pub extra: Vec<Property>,
    /// Like `KAFKA_CONFIG`, for consumers only (e.g. `session.timeout.ms=30000`).
    #[arg(
        long = "kafka-consumer-config",
        env = "KAFKA_CONSUMER_CONFIG",
        value_delimiter = ','
    )]
    pub consumer_extra: Vec<Property>,
    /// Like `KAFKA_CONFIG`, for producers only (e.g. `linger.ms=20`).
    #[arg(
        long = "kafka-producer-config",
        env = "KAFKA_PRODUCER_CONFIG",
        value_delimiter = ','
    )]
    pub producer_extra: Vec<Property>,
}

/// A `key=value` librdkafka property as given; its value may be a secret
/// (`sasl.oauthbearer.config`), so it formats as its key only.
#[derive(Clone, PartialEq, Eq)]
pub struct Property(String);

impl Property {
    /// The key and the value, both trimmed; `None` without a `=`.
    pub fn key_value(&self) -> Option<(&str, &str)> {
        self.0
            .split_once('=')
            .map(|(key, value)| (key.trim(), value.trim()))
    }

    fn key(&self) -> &str {
        self.0.split('=').next().unwrap_or_default()
    }
}

impl fmt::Debug for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.key(), f)
    }
}

impl FromStr for Property {
    type Err = Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.into()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("KAFKA_SECURITY_PROTOCOL must be plaintext, ssl, sasl_plaintext or sasl_ssl, not {0:?}")]
    SecurityProtocol(String),
    #[error("KAFKA_SASL_MECHANISM is required when KAFKA_SECURITY_PROTOCOL is {0}")]
    MissingSaslMechanism(String),
    #[error("KAFKA_CONFIG entry {0:?} is not of the form key=value")]
    Extra(String),
}

impl KafkaArgs {
    /// Checks what librdkafka would only reject later with a less helpful message.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let protocol = self.security_protocol.to_ascii_lowercase();
        if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].contains(&protocol.as_str()) {
            return Err(ConfigError::SecurityProtocol(self.security_protocol.clone()));
        }
        if protocol.starts_with("sasl") && self.sasl_mechanism.is_none() {
            return Err(ConfigError::MissingSaslMechanism(protocol));
        }
        let all = self
            .extra
            .iter()
            .chain(&self.consumer_extra)
            .chain(&self.producer_extra);
        if let Some(bad) = all.into_iter().find(|kv| kv.key_value().is_none()) {
            return Err(ConfigError::Extra(bad.0.clone()));
        }
        Ok(())
    }

    /// Settings common to producers, consumers and admin clients.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("security.protocol", self.security_protocol.to_ascii_lowercase());
        let optional = [
            ("sasl.mechanisms", self.sasl_mechanism.as_deref()),
            ("sasl.username", self.sasl_username.as_deref()),
            ("sasl.password", self.sasl_password.as_ref().map(Secret::expose)),
            ("ssl.ca.location", self.ssl_ca_location.as_deref()),
            (
                "ssl.certificate.location",
                self.ssl_certificate_location.as_deref(),
            ),
            ("ssl.key.location", self.ssl_key_location.as_deref()),
            (
                "ssl.key.password",
                self.ssl_key_password.as_ref().map(Secret::expose),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                config.set(key, value);
            }
        }
        config
    }

    /// A producer whose acknowledgement means the message is on every in-sync replica, written
    /// once even when librdkafka retries, and reported failed within `delivery_timeout`.
    pub fn producer_config(&self, delivery_timeout: Duration) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "100000")
            .set("message.timeout.ms", delivery_timeout.as_millis().to_string());
        apply(config, self.extra.iter().chain(&self.producer_extra))
    }

    /// A consumer that never commits by itself: the sink stores offsets, Kafka's commits only feed
    /// lag monitoring. It fetches at most [`FETCH_QUEUE_KIB`] ahead of its loop, [`FETCH_MAX_BYTES`]
    /// at a time.
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        self.member_config(group_id, None)
    }

    /// [`Self::consumer_config`] for a static member of the group when `instance_id` is given
    /// (`group.instance.id`): a restarted process with the same id takes its partitions back
    /// without a rebalance, on brokers that support it.
    pub fn member_config(&self, group_id: &str, instance_id: Option<&str>) -> ClientConfig {
        let mut config = self.client_config();
        if let Some(instance_id) = instance_id {
            config.set("group.instance.id", instance_id);
        }
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", SESSION_TIMEOUT.as_millis().to_string())
            .set("heartbeat.interval.ms", "2000")
            .set("queued.max.messages.kbytes", FETCH_QUEUE_KIB.to_string())
            .set("fetch.max.bytes", FETCH_MAX_BYTES.to_string());
        apply(config, self.extra.iter().chain(&self.consumer_extra))
    }
}

/// How far a consumer fetches ahead of its loop, in KiB (librdkafka's
/// `queued.max.messages.kbytes`): 16 MiB, a quarter of librdkafka's default, whose 64 MiB were
/// most of a sink's resident set (DESIGN.md §6.4).
pub const FETCH_QUEUE_KIB: u32 = 16 * 1024;

/// The most one fetch asks for (`fetch.max.bytes`): a quarter of the queue. With a fetch as large
/// as the queue (librdkafka caps it there) a bounded consumer read a third as fast as an
/// unbounded one; at a quarter it reads about as fast (`bench/src/bin/bare-consumer.rs`,
/// BENCHMARKS.md, DESIGN.md §6.4).
pub const FETCH_MAX_BYTES: u32 = FETCH_QUEUE_KIB * 1024 / 4;

/// Sets `key=value` properties over ours.
fn apply<'a>(mut config: ClientConfig, properties: impl Iterator<Item = &'a Property>) -> ClientConfig {
    for (key, value) in properties.filter_map(Property::key_value) {
        config.set(key, value);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaArgs,
    }

    fn parse(args: &[&str]) -> KafkaArgs {
        Cli::parse_from(std::iter::once("test").chain(args.iter().copied())).kafka
    }

    #[test]
    fn defaults_reach_the_local_broker_in_plaintext() {
        let kafka = parse(&[]);
        kafka.validate().unwrap();
        let config = kafka.client_config();
        // The test stack exports these variables (on other ports when it runs beside another).
        let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
        assert_eq!(
            config.get("bootstrap.servers"),
            Some(env_or("KAFKA_BROKERS", "127.0.0.1:9092").as_str())
        );
        assert_eq!(config.get("security.protocol"), Some("plaintext"));
        assert_eq!(kafka.topic, env_or("KAFKA_TOPIC", "analytics.events"));
        assert_eq!(kafka.dlq_topic, env_or("KAFKA_DLQ_TOPIC", "analytics.events.dlq"));
    }

    #[test]
    fn sasl_and_ssl_settings_reach_librdkafka() {
        let kafka = parse(&[
            "--kafka-security-protocol=SASL_SSL",
            "--kafka-sasl-mechanism=SCRAM-SHA-512",
            "--kafka-sasl-username=ingest",
            "--kafka-sasl-password=s3cret",
            "--kafka-ssl-ca-location=/etc/ca.pem",
        ]);
        kafka.validate().unwrap();
        let config = kafka.producer_config(Duration::from_secs(5));
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("ingest"));
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(config.get("ssl.ca.location"), Some("/etc/ca.pem"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let kafka = parse(&[
            "--kafka-sasl-password=s3cret",
            "--kafka-ssl-key-password=k3y-pass",
            "--kafka-config=sasl.oauthbearer.config=tok3n",
            "--kafka-consumer-config=sasl.password=c0nsumer",
            "--kafka-producer-config=ssl.key.password=pr0ducer",
        ]);
        let printed = format!("{kafka:?}");
        for secret in ["s3cret", "k3y-pass", "tok3n", "c0nsumer", "pr0ducer"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(
            printed.contains("sasl.oauthbearer.config"),
            "the keys are shown: {printed}"
        );
    }

    /// Every client the services make: the api's producer (`KafkaSink::new`), each consumer and
    /// its dead-letter producer (`run_sink`), and the admin clients (`ensure_topic`,
    /// `partitions_of`) get the security settings, and none prints a secret when debugged.
    #[test]
    fn security_settings_reach_every_client_the_services_build() {
        let kafka = parse(&[
            "--kafka-security-protocol=SASL_SSL",
            "--kafka-sasl-mechanism=SCRAM-SHA-256",
            "--kafka-sasl-username=ingest",
            "--kafka-sasl-password=s3cret",
            "--kafka-ssl-ca-location=/etc/kafka/ca.pem",
            "--kafka-ssl-certificate-location=/etc/kafka/client.pem",
            "--kafka-ssl-key-location=/etc/kafka/client.key",
            "--kafka-ssl-key-password=k3y-pass",
        ]);
        kafka.validate().unwrap();
        let expected = [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanisms", "SCRAM-SHA-256"),
            ("sasl.username", "ingest"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/kafka/ca.pem"),
            ("ssl.certificate.location", "/etc/kafka/client.pem"),
            ("ssl.key.location", "/etc/kafka/client.key"),
            ("ssl.key.password", "k3y-pass"),
        ];
        let clients = [
            ("admin", kafka.client_config()),
            ("producer", kafka.producer_config(Duration::from_secs(5))),
            ("consumer", kafka.consumer_config("lakehouse-warehouse")),
        ];
        for (client, config) in clients {
            for (key, value) in expected {
                assert_eq!(config.get(key), Some(value), "{client}: {key}");
            }
            let printed = format!("{config:?}");
            assert!(printed.contains("sasl_ssl"), "{client}: {printed}");
            for secret in ["s3cret", "k3y-pass"] {
                assert!(!printed.contains(secret), "{client} prints a secret: {printed}");
            }
        }
    }

    #[test]
    fn plaintext_sets_no_sasl_or_ssl_property() {
        let config = parse(&["--kafka-security-protocol=PLAINTEXT"]).consumer_config("g");
        assert_eq!(config.get("security.protocol"), Some("plaintext"));
        for key in [
            "sasl.mechanisms",
            "sasl.username",
            "sasl.password",
            "ssl.ca.location",
        ] {
            assert_eq!(config.get(key), None, "{key}");
        }
    }

    #[test]
    fn sasl_without_a_mechanism_is_refused() {
        let kafka = parse(&["--kafka-security-protocol=sasl_plaintext"]);
        assert!(matches!(
            kafka.validate(),
            Err(ConfigError::MissingSaslMechanism(_))
        ));
        let kafka = parse(&["--kafka-security-protocol=tls"]);
        assert!(matches!(kafka.validate(), Err(ConfigError::SecurityProtocol(_))));
    }

    #[test]
    fn producer_acknowledges_only_after_all_replicas_and_idempotently() {
        let config = parse(&[]).producer_config(Duration::from_millis(4500));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("message.timeout.ms"), Some("4500"));
    }

    #[test]
    fn consumers_never_commit_on_their_own() {
        let config = parse(&[]).consumer_config("lakehouse-lake");
        assert_eq!(config.get("group.id"), Some("lakehouse-lake"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
    }

    #[test]
    fn a_consumers_fetches_are_bounded_unless_overridden() {
        let config = parse(&[]).member_config("g", None);
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("16384"));
        assert_eq!(config.get("fetch.max.bytes"), Some("4194304"));
        let config =
            parse(&["--kafka-consumer-config=queued.max.messages.kbytes=65536"]).consumer_config("g");
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("65536"));
        assert_eq!(config.get("fetch.max.bytes"), Some("4194304"));
    }

    #[test]
    fn a_member_with_an_instance_id_is_static() {
        let kafka = parse(&[]);
        let config = kafka.member_config("lakehouse-lake", Some("delta-writer-7f9c-x2"));
        assert_eq!(config.get("group.instance.id"), Some("delta-writer-7f9c-x2"));
        assert_eq!(config.get("group.id"), Some("lakehouse-lake"));
        assert_eq!(kafka.consumer_config("g").get("group.instance.id"), None);
    }

    #[test]
    fn role_specific_properties_reach_only_their_role() {
        let kafka = parse(&[
            "--kafka-consumer-config=session.timeout.ms=6000",
            "--kafka-producer-config=linger.ms=20",
        ]);
        kafka.validate().unwrap();
        let consumer = kafka.consumer_config("g");
        let producer = kafka.producer_config(Duration::from_secs(5));
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(producer.get("session.timeout.ms"), None);
        assert_eq!(producer.get("linger.ms"), Some("20"));
        assert_eq!(consumer.get("linger.ms"), None);
        assert!(matches!(
            parse(&["--kafka-consumer-config=oops"]).validate(),
            Err(ConfigError::Extra(_))
        ));
    }

    #[test]
    fn extra_properties_override_ours_and_malformed_ones_are_refused() {
        let kafka = parse(&["--kafka-config=linger.ms=50, session.timeout.ms=30000"]);
        kafka.validate().unwrap();
        assert_eq!(
            kafka.producer_config(Duration::from_secs(5)).get("linger.ms"),
            Some("50")
        );
        assert_eq!(
            kafka.consumer_config("g").get("session.timeout.ms"),
            Some("30000")
        );
        assert!(matches!(
            parse(&["--kafka-config=linger.ms"]).validate(),
            Err(ConfigError::Extra(_))
        ));
    }
}
