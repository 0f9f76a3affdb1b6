//! Progress of long lake operations on stderr, for whoever watches a terminal or a CronJob's log:
//! a start line, a line every ten seconds while an opaque operation (a Delta optimize, delete or
//! vacuum) runs, and the time it took; counts where the work is ours to count.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a running operation says it is still running.
const EVERY: Duration = Duration::from_secs(10);

/// Runs `work`, saying on stderr that `label` started, is still running, and finished.
#[expect(clippy::print_stderr, reason = "progress for the operator goes to stderr")]
pub async fn report<F: Future>(label: &str, work: F) -> F::Output {
    let started = Instant::now();
    eprintln!("{label}: started");
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
    let output = loop {
        tokio::select! {
            output = &mut work => break output,
            _ = ticks.tick() => eprintln!("{label}: still running ({} s)", started.elapsed().as_secs()),
        }
    };
    eprintln!("{label}: finished in {:.1} s", started.elapsed().as_secs_f64());
    output
}

/// Counts items of known total, saying how far it got at most every ten seconds.
#[derive(Debug)]
pub struct Counter {
    label: String,
    total: usize,
    done: usize,
    last: Instant,
}

impl Counter {
    pub fn new(label: &str, total: usize) -> Self {
        Self {
            label: label.into(),
            total,
            done: 0,
            last: Instant::now(),
        }
    }

    #[expect(clippy::print_stderr, reason = "progress for the operator goes to stderr")]
    pub fn add(&mut self, n: usize) {
        self.done += n;
        if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            eprintln!("{}: {} of {}", self.label, self.done, self.total);
        }
    }
}
