//! The lake writer of DESIGN.md §8 as a service: events from Kafka into the events table (the
//! `lakehouse-lake` library) through the shared consume loop.

mod cli;
mod config;
mod crash;
mod service;
mod sink;
mod table_metrics;

pub use cli::{Command, MOVED};
pub use config::WriterConfig;
pub use crash::CrashAt;
pub use service::run;
pub use sink::LakeSink;
