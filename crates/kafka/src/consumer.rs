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
/// address and the flush limits on its command, once each (`mut_arg(.., |arg|
/// arg.default_value(..))`): the sinks differ in all of them. A flush limit that also has an old
/// name drops its default while the old name is given (`default_value_if(<old>,
/// ArgPredicate::IsPresent, None)`), so that the old name applies unless the new one is given too.
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
    #[arg(long, env = "FLUSH_MAX_EVENTS")]
    pub flush_max_events: Option<usize>,
    /// ...or this many bytes (the warehouse: the events' JSON; the lake: what the batch holds,
    /// its Parquet files encoded so far and the rows not yet encoded)...
    #[arg(long, env = "FLUSH_MAX_BYTES")]
    pub flush_max_bytes: Option<usize>,
    /// ...or when its first event is this old: the sink's latency bound.
    #[arg(long, env = "FLUSH_MAX_AGE_MS")]
    pub flush_max_age_ms: Option<u64>,
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

/// The flush settings a service got under their old names (declared as hidden flags of its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OldFlushNames {
    pub max_events: Option<OldName<usize>>,
    pub max_bytes: Option<OldName<usize>>,
    pub max_age_ms: Option<OldName<u64>>,
}

const MAX_EVENTS: &str = "FLUSH_MAX_EVENTS";
const MAX_BYTES: &str = "FLUSH_MAX_BYTES";
const MAX_AGE_MS: &str = "FLUSH_MAX_AGE_MS";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsumerError {
    /// A batch would never be flushed, or flushed before it holds anything.
    #[error("{0} must be positive")]
    NotPositive(&'static str),
    /// The service's command sets no default for it (a programming error).
    #[error("{0} is not set and has no default")]
    Unset(&'static str),
}

/// `new`, else the value given under the old name; and the name it came under.
fn either<T: Copy>(
    new: Option<T>,
    name: &'static str,
    old: Option<OldName<T>>,
) -> Result<(T, &'static str), ConsumerError> {
    match (new, old) {
        (Some(value), _) => Ok((value, name)),
        (None, Some(old)) => Ok((old.value, old.name)),
        (None, None) => Err(ConsumerError::Unset(name)),
    }
}

impl ConsumerArgs {
    /// When a batch is flushed: each limit under its `FLUSH_MAX_*` name, else under its old name.
    pub fn flush_policy(&self, old: &OldFlushNames) -> Result<FlushPolicy, ConsumerError> {
        let (max_records, _) = either(self.flush_max_events, MAX_EVENTS, old.max_events)?;
        let (max_bytes, _) = either(self.flush_max_bytes, MAX_BYTES, old.max_bytes)?;
        let (max_age_ms, _) = either(self.flush_max_age_ms, MAX_AGE_MS, old.max_age_ms)?;
        Ok(FlushPolicy {
            max_records,
            max_bytes,
            max_age: Duration::from_millis(max_age_ms),
        })
    }

    /// Refuses a batch limit of 0 events or 0 ms, by the name it was given under.
    pub fn validate(&self, old: &OldFlushNames) -> Result<(), ConsumerError> {
        self.flush_policy(old)?;
        let (events, name) = either(self.flush_max_events, MAX_EVENTS, old.max_events)?;
        if events == 0 {
            return Err(ConsumerError::NotPositive(name));
        }
        let (age_ms, name) = either(self.flush_max_age_ms, MAX_AGE_MS, old.max_age_ms)?;
        if age_ms == 0 {
            return Err(ConsumerError::NotPositive(name));
        }
        Ok(())
    }

    /// The service these flags describe, reported as `version`; logs one warning for each old
    /// name given (used, or ignored when its new name is given too).
    pub fn service<'a>(
        &'a self,
        kafka: &'a KafkaArgs,
        old: &OldFlushNames,
        run: RunArgs,
        version: &'static str,
    ) -> Result<SinkService<'a>, ConsumerError> {
        let renamed = [
            (
                old.max_events.map(|old| old.name),
                self.flush_max_events.is_some(),
                MAX_EVENTS,
            ),
            (
                old.max_bytes.map(|old| old.name),
                self.flush_max_bytes.is_some(),
                MAX_BYTES,
            ),
            (
                old.max_age_ms.map(|old| old.name),
                self.flush_max_age_ms.is_some(),
                MAX_AGE_MS,
            ),
        ];
        for (old, new_given, new) in renamed {
            match old {
                Some(old) if new_given => tracing::warn!(
                    deprecated = old,
                    replacement = new,
                    "{old} is a deprecated name, ignored: {new} is set"
                ),
                Some(old) => tracing::warn!(
                    deprecated = old,
                    replacement = new,
                    "{old} is a deprecated name: it still works, but set {new} instead"
                ),
                None => {}
            }
        }
        Ok(SinkService {
            kafka,
            group_id: &self.group_id,
            group_instance_id: self.group_instance_id.as_deref(),
            metrics_addr: self.metrics_addr,
            policy: self.flush_policy(old)?,
            version,
            until_caught_up: run.until_caught_up,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use clap::builder::ArgPredicate;

    /// A service with its defaults and one old name, as a binary declares them.
    #[derive(Parser)]
    #[command(
        mut_arg("group_id", |arg| arg.default_value("g")),
        mut_arg("metrics_addr", |arg| arg.default_value("127.0.0.1:9100")),
        mut_arg("flush_max_events", |arg| arg
            .default_value("10")
            .default_value_if("old_max_events", ArgPredicate::IsPresent, None)),
        mut_arg("flush_max_bytes", |arg| arg.default_value("1000")),
        mut_arg("flush_max_age_ms", |arg| arg.default_value("500")),
    )]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        consumer: ConsumerArgs,
        #[arg(long, hide = true)]
        old_max_events: Option<usize>,
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("test").chain(args.iter().copied()))
    }

    fn old(cli: &Cli) -> OldFlushNames {
        OldFlushNames {
            max_events: OldName::given("OLD_MAX_EVENTS", cli.old_max_events),
            ..OldFlushNames::default()
        }
    }

    #[test]
    fn the_service_defaults_apply_and_the_flags_override_them() {
        let cli = parse(&[]);
        let service = cli
            .consumer
            .service(&cli.kafka, &old(&cli), RunArgs::default(), "1")
            .unwrap();
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
        let cli = parse(&["--flush-max-events=3", "--flush-max-age-ms=7", "--group-id=h"]);
        let policy = cli.consumer.flush_policy(&old(&cli)).unwrap();
        assert_eq!(
            (policy.max_records, policy.max_age),
            (3, Duration::from_millis(7))
        );
        assert_eq!(cli.consumer.group_id, "h");
    }

    #[test]
    fn an_old_name_applies_unless_the_new_one_is_given_too() {
        let cli = parse(&["--old-max-events=4"]);
        assert_eq!(cli.consumer.flush_policy(&old(&cli)).unwrap().max_records, 4);
        let cli = parse(&["--old-max-events=4", "--flush-max-events=5"]);
        assert_eq!(cli.consumer.flush_policy(&old(&cli)).unwrap().max_records, 5);
    }

    #[test]
    fn a_limit_of_zero_is_refused_by_the_name_it_was_given_under() {
        let cli = parse(&["--flush-max-age-ms=0"]);
        assert_eq!(
            cli.consumer.validate(&old(&cli)),
            Err(ConsumerError::NotPositive("FLUSH_MAX_AGE_MS"))
        );
        let cli = parse(&["--old-max-events=0"]);
        assert_eq!(
            cli.consumer.validate(&old(&cli)),
            Err(ConsumerError::NotPositive("OLD_MAX_EVENTS"))
        );
        assert_eq!(parse(&[]).consumer.validate(&OldFlushNames::default()), Ok(()));
    }
}
