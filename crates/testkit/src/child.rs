//! A service binary run as a child process by the crash and rebalance tests.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The consumers' `session.timeout.ms` in these tests: a killed member leaves the group after it.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// The flag that gives a consumer [`SESSION_TIMEOUT`] (and a heartbeat to match).
pub fn short_session_flag() -> String {
    format!(
        "--kafka-consumer-config=session.timeout.ms={},heartbeat.interval.ms=1000",
        SESSION_TIMEOUT.as_millis()
    )
}

/// Starts `command` quietly (its log level from `CHILD_LOG`, default `warn`, on stderr);
/// `kill_on_drop` makes a dropped child a SIGKILLed one.
pub fn spawn_service(command: &mut Command, what: &str) -> Child {
    command.env(
        "RUST_LOG",
        std::env::var("CHILD_LOG").unwrap_or_else(|_| "warn".into()),
    );
    spawn(command.stderr(Stdio::inherit()), what)
}

/// Starts `command` with the production log level and format, its log appended to `log`.
pub fn spawn_service_logging_to(command: &mut Command, what: &str, log: &Path) -> Child {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|error| panic!("open {}: {error}", log.display()));
    command.env("RUST_LOG", "info").env("LOG_FORMAT", "json");
    spawn(command.stderr(file), what)
}

fn spawn(command: &mut Command, what: &str) -> Child {
    command
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("{what} starts: {error}"))
}

/// A pseudo-random duration in `[min, min + spread)`.
pub fn random_between(min: Duration, spread: Duration) -> Duration {
    let roll = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    min + spread * roll / 1000
}
