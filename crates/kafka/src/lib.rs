//! Everything the services share about Kafka: typed client configuration (with SASL/SSL passed
//! through), topic administration, and the consume loop that gives each sink exactly-once delivery
//! by storing offsets inside the sink's own commit (DESIGN.md §6).

mod admin;
mod assignment;
mod batch;
mod config;
mod consumer;
mod decode;
mod dlq;
mod freshness;
mod member;
mod pipeline;
mod position;
mod readiness;
mod rebalance;
mod retry;
mod service;
mod sink;
mod watchdog;
mod watermarks;

pub use admin::{AdminError, ensure_topic, partitions_of};
pub use batch::FlushPolicy;
pub use config::{ConfigError, KafkaArgs, Property, SESSION_TIMEOUT};
pub use consumer::{ConsumerArgs, ConsumerError, OldFlushNames, OldName, RunArgs};
pub use pipeline::{Pipeline, PipelineError};
pub use position::{Admission, Positions};
pub use readiness::watch_brokers;
pub use service::{ServiceError, SinkService, run_sink};
pub use sink::{BatchSink, Offered};
pub use watermarks::{cached_watermarks, fetched_watermarks};
