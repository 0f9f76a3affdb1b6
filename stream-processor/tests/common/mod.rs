//! What the stream-processor's integration tests share: the processor running in this process.
//! What the warehouse holds, and the oracle for its derived tables, are in `lakehouse_testkit`.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::net::TcpListener;

use clap::Parser;
use lakehouse_stream_processor::ProcessorConfig;
use lakehouse_testkit::service::{InProcess, drained, processor_args};
use lakehouse_testkit::{Stack, TempDatabase, TestTopic};
use tokio::process::Command;
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

/// A dynamic member of `group` (no static member name), with the production session timeout.
pub fn processor(
    stack: &Stack,
    topic: &TestTopic,
    database: &TempDatabase,
    group: &str,
    metrics_port: u16,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lakehouse-stream-processor"));
    command
        .args(topic.flags(stack))
        .args([
            format!("--database-url={}", database.url),
            format!("--group-id={group}"),
            format!("--metrics-addr=127.0.0.1:{metrics_port}"),
            "--flush-max-events=100".into(),
            "--flush-max-age-ms=200".into(),
        ])
        .env_remove("KAFKA_GROUP_INSTANCE_ID");
    command
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// `/ready`'s status code and body; `None` while the ops server does not answer.
pub async fn ready(http: &reqwest::Client, port: u16) -> Option<(u16, String)> {
    let response = http
        .get(format!("http://127.0.0.1:{port}/ready"))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The processor binary on the test's topic and database, with a pool of that database and the
/// port of its `/ready` and `/metrics`.
pub struct Running {
    /// Killed when dropped.
    pub child: tokio::process::Child,
    pub pool: sqlx::PgPool,
    pub port: u16,
}

/// Starts the processor binary as a member of `group`.
pub fn spawn_processor(stack: &Stack, topic: &TestTopic, database: &TempDatabase, group: &str) -> Running {
    let port = free_port();
    let child = lakehouse_testkit::spawn_service(
        &mut processor(stack, topic, database, group, port),
        "the stream-processor",
    );
    let pool = sqlx::PgPool::connect_lazy(&database.url).expect("the test database");
    Running { child, pool, port }
}
