//! Progress of a long command, for the person who runs it: on a terminal a bar per phase with
//! done/total and the time left (indicatif), or a spinner with the time so far where the work
//! cannot be counted (a Delta optimize or vacuum); elsewhere (a CronJob's log, a pipe) one summary
//! line per phase when it ends, so that a log holds no redrawn bars; nothing with `--quiet`.
//! Progress goes to stderr; the command's result stays alone on stdout. Like the log subscriber,
//! the mode is the process's: a binary sets it once ([`init`]), and the libraries' long
//! operations report through it without a parameter each.

use std::future::Future;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on stderr, which is a terminal.
    Bar,
    /// One line per finished phase.
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// `Quiet` when asked, else `Bar` when stderr is a terminal, else `Lines`.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Lines
        }
    }
}

static MODE: OnceLock<ProgressMode> = OnceLock::new();

/// Sets this process's mode from `--quiet` and stderr; the first call wins.
pub fn init(quiet: bool) {
    let _ = MODE.set(ProgressMode::detect(quiet));
}

/// This process's mode: as [`init`] set it, else as stderr is.
pub fn mode() -> ProgressMode {
    *MODE.get_or_init(|| ProgressMode::detect(false))
}

/// Runs `work`, an operation that cannot be counted, as the phase `label`.
pub async fn report<F: Future>(label: &str, work: F) -> F::Output {
    let phase = Phase::start(label, "", None);
    let output = work.await;
    phase.finish();
    output
}

/// One phase of a command (`command: what`), with the total it works through when known.
#[derive(Debug)]
pub struct Phase {
    mode: ProgressMode,
    name: String,
    unit: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Phase {
    /// Starts the phase `name` (`<command>: <what it does>`), counting `unit`s up to `total`
    /// when known.
    pub fn start(name: &str, unit: &'static str, total: Option<u64>) -> Self {
        let mode = mode();
        let name = name.to_string();
        let bar = (mode == ProgressMode::Bar).then(|| {
            let template = match total {
                Some(_) => format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}} left)"),
                None if unit.is_empty() => "{spinner} {msg} ({elapsed})".to_string(),
                None => format!("{{spinner}} {{msg}}: {{pos}} {unit} ({{elapsed}})"),
            };
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(name.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            mode,
            name,
            unit,
            total,
            done: 0,
            started: Instant::now(),
            bar,
        }
    }

    /// `n` more done.
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Ends the phase: the bar left at its final count, or its summary line.
    #[expect(
        clippy::print_stderr,
        reason = "progress for the person running the command goes to stderr"
    )]
    pub fn finish(self) {
        let seconds = self.started.elapsed().as_secs_f64();
        match (self.mode, self.total) {
            (ProgressMode::Bar, _) => {
                if let Some(bar) = self.bar {
                    bar.finish();
                }
            }
            (ProgressMode::Lines, Some(total)) => {
                eprintln!(
                    "{}: {} of {total} {} in {seconds:.1} s",
                    self.name, self.done, self.unit
                );
            }
            (ProgressMode::Lines, None) if self.done > 0 => {
                eprintln!("{}: {} {} in {seconds:.1} s", self.name, self.done, self.unit);
            }
            (ProgressMode::Lines, None) => eprintln!("{}: done in {seconds:.1} s", self.name),
            (ProgressMode::Quiet, _) => {}
        }
    }
}
