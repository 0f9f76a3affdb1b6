//! What the delta-writer's integration tests share: configurations pointed at the stack, the
//! writer binary as a child process, and reading back what the table holds.

#![allow(dead_code, reason = "each test target uses its own part")]

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use clap::Parser;
use lakehouse_delta_writer::WriterConfig;
use lakehouse_lake::{event_id_counts, open_table};
use lakehouse_testkit::{Stack, TestTopic, random_between, short_session_flag, spawn_service, wait_until};
use tokio::process::{Child, Command};

/// The flags that point the writer at `topic` and at `lake` (an `s3://` lake gets the stack's
/// object store), for `group`.
pub fn flags(stack: &Stack, topic: &TestTopic, lake: &str, group: &str) -> Vec<String> {
    let mut args = topic.flags(stack);
    args.extend([
        format!("--lake-uri={lake}"),
        format!("--group-id={group}"),
        "--metrics-addr=127.0.0.1:0".into(),
        "--log-format=pretty".into(),
    ]);
    if lake.starts_with("s3://") {
        args.extend(stack.aws_flags());
    }
    args
}

/// The configuration the binary would parse from these flags followed by `command`.
pub fn config(stack: &Stack, topic: &TestTopic, lake: &str, group: &str, command: &[&str]) -> WriterConfig {
    let mut args = vec!["delta-writer".to_string()];
    args.extend(flags(stack, topic, lake, group));
    args.extend(command.iter().map(|arg| arg.to_string()));
    WriterConfig::parse_from(args)
}

/// Starts the writer binary with `args` after the common flags; small, frequent commits so that
/// kills land between them. `kill_on_drop` makes a dropped child a SIGKILLed one.
pub fn spawn(
    stack: &Stack,
    topic: &TestTopic,
    lake: &str,
    group: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Child {
    let mut command = Command::new(binary());
    command
        .args(flags(stack, topic, lake, group))
        .args([
            "--flush-max-events=40".to_string(),
            "--flush-max-age-ms=200".into(),
            short_session_flag(),
        ])
        .args(args)
        .envs(env.iter().copied());
    spawn_service(&mut command, "the delta-writer binary")
}

/// The writer binary: this build's, or the one `SINK_BINARY` names.
pub fn binary() -> String {
    lakehouse_testkit::restart::sink_binary(env!("CARGO_BIN_EXE_lakehouse-delta-writer"))
}

/// The table's latest version (`None` before it exists).
pub async fn version(config: &WriterConfig) -> Option<u64> {
    let location = config.location();
    let url = location.events_url().expect("a table URL");
    let table = open_table(url, &location).await.expect("the table");
    table.version()
}

/// How many times each `event_id` is in the table's latest version.
pub async fn id_counts(config: &WriterConfig) -> HashMap<String, i64> {
    let location = config.location();
    let url = location.events_url().expect("a table URL");
    let table = open_table(url, &location).await.expect("the table");
    if table.version().is_none() {
        return HashMap::new();
    }
    let counts = event_id_counts(&table).await.expect("the ids");
    counts.into_iter().map(|(id, n)| (id.to_string(), n)).collect()
}

/// The rows in the table's latest version.
pub async fn rows(config: &WriterConfig) -> i64 {
    id_counts(config).await.values().sum()
}

/// The signal `abort` raises.
const SIGABRT: i32 = 6;

/// Runs the writer (`run --until-caught-up`, with `env`) made to abort at `crash_at` (see the
/// `crash` module), and waits up to `patience` for it to die there rather than finish.
pub async fn run_until_crash(
    stack: &Stack,
    topic: &TestTopic,
    lake: &str,
    group: &str,
    crash_at: &str,
    env: &[(&str, &str)],
    patience: Duration,
) {
    let mut env = env.to_vec();
    env.push(("LAKE_CRASH_AT", crash_at));
    let mut child = spawn(stack, topic, lake, group, &["run", "--until-caught-up"], &env);
    let status = tokio::time::timeout(patience, child.wait())
        .await
        .expect("the writer reaches the crash point")
        .expect("the child is reaped");
    assert_eq!(
        status.signal(),
        Some(SIGABRT),
        "the writer must die at {crash_at}, not finish: {status:?}"
    );
}

/// Starts a writer that would not end by itself (`run`, with `env`), waits until `progress`
/// (a version of the lake) moves past what it was, then SIGKILLs it at a random moment.
pub async fn kill_after_progress<F, Fut>(
    stack: &Stack,
    topic: &TestTopic,
    lake: &str,
    group: &str,
    env: &[(&str, &str)],
    patience: Duration,
    progress: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<u64>>,
{
    let before = progress().await;
    let mut child = spawn(stack, topic, lake, group, &["run"], env);
    wait_until("a commit of the new writer", patience, || async {
        let now = progress().await;
        if now > before {
            Ok(())
        } else {
            Err(format!("version {now:?}"))
        }
    })
    .await;
    tokio::time::sleep(random_between(Duration::ZERO, Duration::from_millis(400))).await;
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("the killed child is reaped");
}
