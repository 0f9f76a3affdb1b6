//! A service of this workspace run inside the test process: its `run(config, shutdown)` spawned
//! and stopped cleanly, or run in drain mode to its end; and the flags the tests start the
//! stream-processor with. Generic over the service, so that this crate needs none of them.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::warehouse::PATIENCE;
use crate::{Stack, TestTopic};

/// A service running in this process until [`InProcess::stop`].
#[derive(Debug)]
#[must_use = "the service runs until it is stopped"]
pub struct InProcess {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Spawns `run` with a shutdown token of its own.
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(shutdown.clone()));
        Self { shutdown, task }
    }

    /// Stops the service and expects a clean exit.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("no panic").expect("a clean stop");
    }
}

/// Awaits a service in drain mode (`run --until-caught-up`), which must end by itself within
/// [`PATIENCE`]; its result.
pub async fn drained(run: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("a drain ends by itself")
}

/// The stream-processor's command line in the tests (its name first): the test's topic and
/// database, consumer group `group`, small and quick batches, then `extra` (a subcommand and its
/// flags).
pub fn processor_args(
    stack: &Stack,
    topic: &TestTopic,
    database_url: &str,
    group: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args = vec!["stream-processor".to_string()];
    args.extend(topic.flags(stack));
    args.extend([
        format!("--database-url={database_url}"),
        format!("--group-id={group}"),
        "--metrics-addr=127.0.0.1:0".into(),
        "--flush-max-age-ms=100".into(),
        "--flush-max-events=50".into(),
        "--log-format=pretty".into(),
    ]);
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args
}
