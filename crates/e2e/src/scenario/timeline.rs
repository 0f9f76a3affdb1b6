//! What happened when in a run, printed as it happens and kept for the report.

use std::time::Instant;

/// What happened when, for the report.
#[derive(Debug, Default)]
pub struct Timeline {
    started: Option<Instant>,
    pub entries: Vec<String>,
}

impl Timeline {
    pub fn note(&mut self, what: String) {
        let at = self
            .started
            .get_or_insert_with(Instant::now)
            .elapsed()
            .as_secs_f64();
        eprintln!("[scenario {at:6.1}s] {what}");
        self.entries.push(format!("{at:.1}s {what}"));
    }
}
