//! Crash points for the exactly-once tests: `--crash-at <stage>:<n>` (hidden, or `LAKE_CRASH_AT`)
//! aborts the process the n-th time a commit reaches `<stage>` (see [`Stage`]), the moments a
//! `kill -9` hurts most. A process abort skips every destructor and flush, as `kill -9` does.
//! Unset in production, where a check is one comparison.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lakehouse_lake::Stage;

/// `<stage>:<n>`: die the n-th time `stage` is reached (n from 1).
#[derive(Debug, Clone)]
pub struct CrashAt {
    stage: Stage,
    nth: u64,
    reached: Arc<AtomicU64>,
}

fn parse_stage(name: &str) -> Result<Stage, String> {
    match name {
        "before-upload" => Ok(Stage::BeforeUpload),
        "after-upload" => Ok(Stage::AfterUpload),
        "after-commit" => Ok(Stage::AfterCommit),
        other => Err(format!(
            "unknown crash point {other:?}: before-upload, after-upload or after-commit"
        )),
    }
}

impl FromStr for CrashAt {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let (stage, nth) = value.split_once(':').unwrap_or((value, "1"));
        let nth = nth
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{nth:?} is not a positive count"))?;
        Ok(Self {
            stage: parse_stage(stage)?,
            nth,
            reached: Arc::default(),
        })
    }
}

impl CrashAt {
    /// Whether reaching `stage` now is the n-th time (each reach of the configured stage counts).
    fn is_due(&self, stage: Stage) -> bool {
        stage == self.stage && self.reached.fetch_add(1, Ordering::SeqCst) + 1 == self.nth
    }

    /// Aborts the process if this is the moment.
    pub fn check(&self, stage: Stage) {
        if self.is_due(stage) {
            tracing::error!(?stage, "crash point reached: aborting as a kill -9 would");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_nth_reach_of_the_named_point_is_due() {
        let crash: CrashAt = "after-upload:3".parse().unwrap();
        let due: Vec<bool> = [
            Stage::AfterUpload,
            Stage::BeforeUpload,
            Stage::AfterUpload,
            Stage::AfterUpload,
            Stage::AfterUpload,
        ]
        .into_iter()
        .map(|p| crash.is_due(p))
        .collect();
        assert_eq!(due, [false, false, false, true, false]);
    }

    #[test]
    fn the_count_defaults_to_one_and_bad_values_are_refused() {
        let crash: CrashAt = "after-commit".parse().unwrap();
        assert!(crash.is_due(Stage::AfterCommit));
        assert!("after-commit:0".parse::<CrashAt>().is_err());
        assert!("sometime:1".parse::<CrashAt>().is_err());
    }
}
