//! The flags of a consumer service, flattened into its config: its place in the consumer group,
//! where it is probed, when it flushes and how it runs; and the [`SinkService`] they make. The
//! flush settings also keep the names a service read before (`BATCH_MAX_EVENTS`, ...), each
//! warned about once at start.

use std::net::SocketAddr;
use std::time::Duration;

use crate::batch::FlushPolicy;
use crate::config::KafkaArgs;
use crate::service::SinkService;

/// What every consumer service is asked. A service sets its own defaults for the group, the ops
/// address and the flush limits on its command (`mut_arg(.., |arg| arg.default_value(..))`), once:
/// the sinks differ in all of them.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsumerArgs {
    /// The consumer group; every replica of the service shares it.
    #[arg(long, env = "KAFKA_GROUP_ID", required = false)]
    pub group_id: String,
    /// This process's name in the group, for static membership: unique in the group and the same
    /// across restarts of one slot (a pod's name). Unset: a dynamic member.
    #[arg(long, env = "KAFKA_GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// Where `/health`, `/ready` and `/metrics` are served.
    #[arg(long, env = "METRICS_ADDR", required = false)]
    pub metrics_addr: SocketAddr,
    /// Commit a batch once it holds this many events...
    #[arg(long, env = "FLUSH_MAX_EVENTS", required = false)]
    pub flush_max_events: usize,
    /// ...or this many bytes (the warehouse: the events' JSON; the lake: what the batch holds,
    /// its Parquet files encoded so far and the rows not yet encoded)...
    #[arg(long, env = "FLUSH_MAX_BYTES", required = false)]
    pub flush_max_bytes: usize,
    /// ...or when its first event is this old: the sink's latency bound.
    #[arg(long, env = "FLUSH_MAX_AGE_MS", required = false)]
    pub flush_max_age_ms: u64,
}

/// The options of a consumer's `run` command.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct RunArgs {
    /// Consume every assigned partition up to its end as of start-up, commit what is buffered,
    /// and exit (for backfills, tests and benchmarks; run a single member of the group).
    #[arg(long)]
    pub until_caught_up: bool,
}

/// A setting given under the name it had before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldName<T> {
    /// The old variable, e.g. `BATCH_MAX_EVENTS`.
    pub name: &'static str,
    pub value: T,
}

impl<T> OldName<T> {
    /// `value` given under `name`, if given.
    pub fn given(name: &'static str, value: Option<T>) -> Option<Self> {
        value.map(|value| Self { name, value })
    }
}

/// The flush settings a service got under their old names. A service declares its old names as
/// hidden flags that conflict with the new ones, so that at most one of the two is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OldFlushNames {
    pub max_events: Option<OldName<usize>>,
    pub max_bytes: Option<OldName<usize>>,
    pub max_age_ms: Option<OldName<u64>>,
}

impl OldFlushNames {
    /// Each old name given, with the name that replaces it.
    fn renames(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        [
            self.max_events.map(|old| (old.name, "FLUSH_MAX_EVENTS")),
            self.max_bytes.map(|old| (old.name, "FLUSH_MAX_BYTES")),
            self.max_age_ms.map(|old| (old.name, "FLUSH_MAX_AGE_MS")),
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsumerError {
    /// A batch would never be flushed, or flushed before it holds anything.
    #[error("{0} must be positive")]
    NotPositive(&'static str),
}

impl ConsumerArgs {
    /// When a batch is flushed: each limit under its `FLUSH_MAX_*` name, or under its old name
    /// when that was given.
    pub fn flush_policy(&self, old: &OldFlushNames) -> FlushPolicy {
        FlushPolicy {
            max_records: old.max_events.map_or(self.flush_max_events, |old| old.value),
            max_bytes: old.max_bytes.map_or(self.flush_max_bytes, |old| old.value),
            max_age: Duration::from_millis(old.max_age_ms.map_or(self.flush_max_age_ms, |old| old.value)),
        }
    }

    /// Refuses a batch limit of 0 events or 0 ms, by the name it was given under.
    pub fn validate(&self, old: &OldFlushNames) -> Result<(), ConsumerError> {
        let policy = self.flush_policy(old);
        if policy.max_records == 0 {
            return Err(ConsumerError::NotPositive(
                old.max_events.map_or("FLUSH_MAX_EVENTS", |old| old.name),
            ));
        }
        if policy.max_age.is_zero() {
            return Err(ConsumerError::NotPositive(
                old.max_age_ms.map_or("FLUSH_MAX_AGE_MS", |old| old.name),
            ));
        }
        Ok(())
    }

    /// The service these flags describe, reported as `version`; logs one warning for each old
    /// name given.
    pub fn service<'a>(
        &'a self,
        kafka: &'a KafkaArgs,
        old: &OldFlushNames,
        run: RunArgs,
        version: &'static str,
    ) -> SinkService<'a> {
        for (old, new) in old.renames() {
            tracing::warn!(
                deprecated = old,
                replacement = new,
                "{old} is a deprecated name: it still works, but set {new} instead"
            );
        }
        SinkService {
            kafka,
            group_id: &self.group_id,
            group_instance_id: self.group_instance_id.as_deref(),
            metrics_addr: self.metrics_addr,
            policy: self.flush_policy(old),
            version,
            until_caught_up: run.until_caught_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A service with its defaults and one old name, as a binary declares them.
    #[derive(Parser)]
    #[command(
        mut_arg("group_id", |arg| arg.default_value("g")),
        mut_arg("metrics_addr", |arg| arg.default_value("127.0.0.1:9100")),
        mut_arg("flush_max_events", |arg| arg.default_value("10")),
        mut_arg("flush_max_bytes", |arg| arg.default_value("1000")),
        mut_arg("flush_max_age_ms", |arg| arg.default_value("500")),
    )]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        consumer: ConsumerArgs,
        #[arg(long, hide = true, conflicts_with = "flush_max_events")]
        old_max_events: Option<usize>,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
    }

    fn old(cli: &Cli) -> OldFlushNames {
        OldFlushNames {
            max_events: OldName::given("OLD_MAX_EVENTS", cli.old_max_events),
            ..OldFlushNames::default()
        }
    }

    #[test]
    fn the_service_defaults_apply_and_the_flags_override_them() {
        let cli = parse(&[]).unwrap();
        let service = cli
            .consumer
            .service(&cli.kafka, &old(&cli), RunArgs::default(), "1");
        assert_eq!(service.group_id, "g");
        assert_eq!(service.metrics_addr.port(), 9100);
        assert_eq!(
            service.policy,
            FlushPolicy {
                max_records: 10,
                max_bytes: 1000,
                max_age: Duration::from_millis(500),
            }
        );
        let cli = parse(&["--flush-max-events=3", "--flush-max-age-ms=7", "--group-id=h"]).unwrap();
        let policy = cli.consumer.flush_policy(&old(&cli));
        assert_eq!(
            (policy.max_records, policy.max_age),
            (3, Duration::from_millis(7))
        );
        assert_eq!(cli.consumer.group_id, "h");
    }

    #[test]
    fn an_old_name_is_used_and_cannot_be_given_with_the_new_one() {
        let cli = parse(&["--old-max-events=4"]).unwrap();
        assert_eq!(cli.consumer.flush_policy(&old(&cli)).max_records, 4);
        assert!(parse(&["--old-max-events=4", "--flush-max-events=5"]).is_err());
    }

    #[test]
    fn a_limit_of_zero_is_refused_by_the_name_it_was_given_under() {
        let cli = parse(&["--flush-max-age-ms=0"]).unwrap();
        assert_eq!(
            cli.consumer.validate(&old(&cli)),
            Err(ConsumerError::NotPositive("FLUSH_MAX_AGE_MS"))
        );
        let cli = parse(&["--old-max-events=0"]).unwrap();
        assert_eq!(
            cli.consumer.validate(&old(&cli)),
            Err(ConsumerError::NotPositive("OLD_MAX_EVENTS"))
        );
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.consumer.validate(&old(&cli)), Ok(()));
    }
}
