//! A service binary of this workspace run as a child process: where it is built, started quietly
//! or with its log in a file, run to its end, stopped with SIGTERM.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::warehouse::PATIENCE;

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

/// A service binary of this workspace: from `SCENARIO_BIN_DIR` (`scripts/soak` copies them there,
/// so that a build during a long run does not change what a restart starts), else built beside
/// the test (`cargo test --workspace` builds every binary first).
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("SCENARIO_BIN_DIR").map_or_else(
        || {
            let exe = std::env::current_exe().expect("the test binary's path");
            let dir = exe.parent().and_then(Path::parent).expect("the target directory");
            dir.to_path_buf()
        },
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test and scripts/soak do)",
        path.display()
    );
    path
}

/// Sends SIGTERM to `child` (named `name` in failures) and waits until it exits, which must be
/// cleanly and within a minute: a service drains, commits and leaves its group on SIGTERM.
pub async fn terminate(child: &mut tokio::process::Child, name: &str) {
    let pid = child.id().expect("a pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(status) => assert!(
            status.expect("the exit status").success(),
            "{name} exits cleanly on SIGTERM"
        ),
        Err(_) => panic!("{name} did not stop within 60 s of SIGTERM"),
    }
}

/// A service binary running until [`Running::stop`].
#[derive(Debug)]
#[must_use = "the service runs until it is stopped"]
pub struct Running {
    child: Child,
    name: String,
}

impl Running {
    /// Starts `command` quietly (see [`spawn_service`]); `name` names it in failures.
    pub fn spawn(command: &mut Command, name: &str) -> Self {
        Self {
            child: spawn_service(command, name),
            name: name.into(),
        }
    }

    /// Stops the service with SIGTERM and expects a clean exit.
    pub async fn stop(mut self) {
        terminate(&mut self.child, &self.name).await;
    }
}

/// Runs `command` (a service in drain mode, `run --until-caught-up`) quietly to its end, which
/// must come by itself within [`PATIENCE`] and be a success.
pub async fn run_to_end(command: &mut Command, name: &str) {
    let mut child = spawn_service(command, name);
    match tokio::time::timeout(PATIENCE, child.wait()).await {
        Ok(status) => assert!(status.expect("the exit status").success(), "{name} succeeds"),
        Err(_) => panic!("{name} did not end by itself within {PATIENCE:?}"),
    }
}

/// A pseudo-random duration in `[min, min + spread)`.
pub fn random_between(min: Duration, spread: Duration) -> Duration {
    let roll = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    min + spread * roll / 1000
}
