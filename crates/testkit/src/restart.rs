//! A sink killed and started again at once, over and over, as an orchestrator restarts a crashed
//! container, while events keep arriving; and how long each new process took to make progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lakehouse_event::EnrichedEvent;
use tokio::process::Child;

use crate::child::random_between;
use crate::{Stack, produce, reference_event};

/// How soon a restarted sink must make progress: its session timeout (the services' default:
/// the restarts run as in production) plus ten seconds.
pub const PROGRESS_LIMIT: Duration = Duration::from_secs(lakehouse_kafka::SESSION_TIMEOUT.as_secs() + 10);

/// The sink binary to restart: `built` (this build's), or the one `SINK_BINARY` names, so that
/// another build is measured the same way (RELIABILITY.md's before and after).
pub fn sink_binary(built: &str) -> String {
    std::env::var("SINK_BINARY").unwrap_or_else(|_| built.to_string())
}

/// Events arriving all along, every 100 ms until stopped.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Load {
    /// `per_tick` reference events of `seed` every 100 ms.
    pub fn start(stack: &Stack, topic: &str, seed: u64, per_tick: u64) -> Self {
        Self::start_with(stack, topic, per_tick, move |i| reference_event(seed, i))
    }

    /// `per_tick` events `event(i)` (for `i` from 0 on) every 100 ms.
    pub fn start_with(
        stack: &Stack,
        topic: &str,
        per_tick: u64,
        event: impl Fn(u64) -> EnrichedEvent + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (stack, topic, stopped) = (stack.clone(), topic.to_string(), stop.clone());
        let task = tokio::spawn(async move {
            let mut produced = 0;
            while !stopped.load(Ordering::SeqCst) {
                let events: Vec<EnrichedEvent> = (produced..produced + per_tick).map(&event).collect();
                produce(&stack, &topic, &events).await;
                produced += per_tick;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            produced
        });
        Self { stop, task }
    }

    /// Stops producing; how many events were produced (indexes `0..n` of the seed).
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the load task")
    }
}

/// Starts a sink with `start`, waits for `progress` (a count the sink's store keeps, growing with
/// each commit) to grow, then `rounds` times SIGKILLs it at a random moment after its progress
/// and starts it again at once. Returns the last process and, per restart, how long the new
/// process took until `progress` grew (`None`: not within `patience`).
pub async fn kill_and_restart<S, P>(
    rounds: usize,
    patience: Duration,
    mut start: S,
    mut progress: P,
) -> (Child, Vec<Option<Duration>>)
where
    S: FnMut() -> Child,
    P: AsyncFnMut() -> i64,
{
    let mut child = start();
    let before = progress().await;
    let first = progressed(&mut progress, before, Instant::now(), patience).await;
    assert!(first.is_some(), "the sink makes progress after its first start");
    let mut took = Vec::new();
    for round in 1..=rounds {
        tokio::time::sleep(random_between(Duration::ZERO, Duration::from_secs(1))).await;
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("the killed child is reaped");
        let before = progress().await;
        let started = Instant::now();
        child = start();
        let after = progressed(&mut progress, before, started, patience).await;
        match after {
            Some(after) => eprintln!("restart {round}: progress after {:.1} s", after.as_secs_f64()),
            None => eprintln!("restart {round}: no progress within {} s", patience.as_secs()),
        }
        took.push(after);
    }
    (child, took)
}

/// How long after `started` `progress` grew past `before`; `None` when not within `patience`.
async fn progressed<P: AsyncFnMut() -> i64>(
    progress: &mut P,
    before: i64,
    started: Instant,
    patience: Duration,
) -> Option<Duration> {
    while started.elapsed() < patience {
        if progress().await > before {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// `took`'s median and maximum (`None` entries count as `patience`), for the summary line.
pub fn summary(took: &[Option<Duration>], patience: Duration) -> String {
    let mut secs: Vec<f64> = took.iter().map(|t| t.unwrap_or(patience).as_secs_f64()).collect();
    secs.sort_by(f64::total_cmp);
    let median = match secs.len() {
        0 => 0.0,
        n if n % 2 == 1 => secs[n / 2],
        n => (secs[n / 2 - 1] + secs[n / 2]) / 2.0,
    };
    let stuck = took.iter().filter(|t| t.is_none()).count();
    format!(
        "{} restarts: median {median:.1} s, max {:.1} s, {stuck} without progress within {} s",
        took.len(),
        secs.last().copied().unwrap_or_default(),
        patience.as_secs()
    )
}

/// The restarts (numbered from 1) that made no progress within [`PROGRESS_LIMIT`], with the time
/// they took when they did make progress later.
pub fn late(took: &[Option<Duration>]) -> Vec<(usize, Option<Duration>)> {
    took.iter()
        .enumerate()
        .filter(|(_, took)| took.is_none_or(|took| took > PROGRESS_LIMIT))
        .map(|(round, took)| (round + 1, *took))
        .collect()
}
