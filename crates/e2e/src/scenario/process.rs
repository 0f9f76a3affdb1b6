//! A service binary of this workspace as a child process the scenario kills, restarts and stops,
//! its log appended to one file over all its lives.

use std::path::{Path, PathBuf};

use lakehouse_testkit::spawn_service_logging_to;
use tokio::process::{Child, Command};

/// One service process, restartable, its log appended to one file over all its lives.
#[derive(Debug)]
pub struct Service {
    pub name: String,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
}

impl Service {
    /// A service not started yet, logging to `<logs>/<name>.log`.
    pub fn new(name: &str, binary: &str, args: Vec<String>, env: Vec<(String, String)>, logs: &Path) -> Self {
        Self {
            name: name.into(),
            binary: crate::services::binary(binary),
            args,
            env,
            log: logs.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    pub fn start(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(spawn_service_logging_to(&mut command, &self.name, &self.log));
        self.starts += 1;
    }

    /// SIGKILL, as a crash or an OOM kill: nothing flushed, nothing committed.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("a running service");
        child.kill().await.expect("SIGKILL");
    }

    /// SIGTERM and wait: a clean leave (a scale-down or a rolling update).
    pub async fn terminate(&mut self) {
        let mut child = self.child.take().expect("a running service");
        crate::services::terminate(&mut child, &self.name).await;
    }

    /// Panics (with the log's tail) if the process ended on its own.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().expect("the child's state")
        {
            panic!("{} ended on its own ({status}); {}", self.name, self.log_tail(20));
        }
    }

    /// The last `lines` lines of the log over all its lives, oldest first, introduced by the
    /// service's name: what a failed wait prints so that the run explains itself.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.reverse();
        format!("the log of {} ends:\n{}", self.name, tail.join("\n"))
    }
}
