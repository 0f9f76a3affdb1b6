//! Progress of a long command, for the person who runs it: on a terminal a bar per phase with
//! done/total and the time left (indicatif); elsewhere (a CronJob's log, a pipe) one summary line
//! per phase when it ends, so that a log holds no redrawn bars; nothing with `--quiet`. Progress
//! goes to stderr; the command's result stays alone on stdout.

use std::io::IsTerminal;
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
    /// Starts the phase `what` of `command`, counting `unit`s up to `total` when known.
    pub fn start(
        mode: ProgressMode,
        command: &str,
        what: &str,
        unit: &'static str,
        total: Option<u64>,
    ) -> Self {
        let name = format!("{command}: {what}");
        let bar = (mode == ProgressMode::Bar).then(|| {
            let template = match total {
                Some(_) => format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}} left)"),
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
