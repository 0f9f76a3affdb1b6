//! Crash points for the exactly-once tests: `--crash-at <point>:<n>` (hidden, or `LAKE_CRASH_AT`)
//! aborts the process the n-th time a commit reaches `<point>`, the moments a `kill -9` hurts
//! most. A process abort skips every destructor and flush, as `kill -9` does. Unset in
//! production, where a check is one comparison.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where in a commit the process can be made to die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Before any data file is uploaded.
    BeforeUpload,
    /// Data files uploaded, the commit not yet written: the files are orphans.
    AfterUpload,
    /// The commit is in the log, nothing after it happened (no Kafka commit, no dedup memory).
    AfterCommit,
}

impl FromStr for Point {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "before-upload" => Ok(Self::BeforeUpload),
            "after-upload" => Ok(Self::AfterUpload),
            "after-commit" => Ok(Self::AfterCommit),
            other => Err(format!(
                "unknown crash point {other:?}: before-upload, after-upload or after-commit"
            )),
        }
    }
}

/// `<point>:<n>`: die the n-th time `point` is reached (n from 1).
#[derive(Debug, Clone)]
pub struct CrashAt {
    point: Point,
    nth: u64,
    reached: Arc<AtomicU64>,
}

impl FromStr for CrashAt {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let (point, nth) = value.split_once(':').unwrap_or((value, "1"));
        let nth = nth
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{nth:?} is not a positive count"))?;
        Ok(Self {
            point: point.parse()?,
            nth,
            reached: Arc::default(),
        })
    }
}

impl CrashAt {
    /// Whether reaching `point` now is the n-th time (each reach of the configured point counts).
    fn is_due(&self, point: Point) -> bool {
        point == self.point && self.reached.fetch_add(1, Ordering::SeqCst) + 1 == self.nth
    }
}

/// Aborts the process if `crash` says this is the moment.
pub fn point(crash: Option<&CrashAt>, point: Point) {
    if crash.is_some_and(|crash| crash.is_due(point)) {
        tracing::error!(?point, "crash point reached: aborting as a kill -9 would");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_nth_reach_of_the_named_point_is_due() {
        let crash: CrashAt = "after-upload:3".parse().unwrap();
        let due: Vec<bool> = [
            Point::AfterUpload,
            Point::BeforeUpload,
            Point::AfterUpload,
            Point::AfterUpload,
            Point::AfterUpload,
        ]
        .into_iter()
        .map(|p| crash.is_due(p))
        .collect();
        assert_eq!(due, [false, false, false, true, false]);
    }

    #[test]
    fn the_count_defaults_to_one_and_bad_values_are_refused() {
        let crash: CrashAt = "after-commit".parse().unwrap();
        assert!(crash.is_due(Point::AfterCommit));
        assert!("after-commit:0".parse::<CrashAt>().is_err());
        assert!("sometime:1".parse::<CrashAt>().is_err());
    }
}
