//! What the stream-processor's integration tests share: the processor running in this process.
//! What the warehouse holds, and the oracle for its derived tables, are in `lakehouse_testkit`.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use clap::Parser;
use lakehouse_stream_processor::ProcessorConfig;
use lakehouse_testkit::service::{InProcess, drained, processor_args};
use lakehouse_testkit::{Stack, TempDatabase, TestTopic};
use tokio_util::sync::CancellationToken;

/// The processor's configuration for the test's topic and database, with `extra` arguments
/// (a subcommand and its flags) at the end.
pub fn config(
    stack: &Stack,
    topic: &TestTopic,
    database: &TempDatabase,
    group: &str,
    extra: &[&str],
) -> ProcessorConfig {
    ProcessorConfig::parse_from(processor_args(stack, topic, &database.url, group, extra))
}

/// Starts a processor of consumer group `group` on the test's topic and database.
pub fn start(stack: &Stack, topic: &TestTopic, database: &TempDatabase, group: &str) -> InProcess {
    let config = config(stack, topic, database, group, &[]);
    InProcess::spawn(|shutdown| lakehouse_stream_processor::run(config, shutdown))
}

/// Runs a processor in drain mode (`run --until-caught-up`) to its end.
pub async fn drain(
    stack: &Stack,
    topic: &TestTopic,
    database: &TempDatabase,
    group: &str,
) -> anyhow::Result<()> {
    let config = config(stack, topic, database, group, &["run", "--until-caught-up"]);
    drained(lakehouse_stream_processor::run(config, CancellationToken::new())).await
}
