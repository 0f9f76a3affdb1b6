//! How fresh a sink is, as metrics (DESIGN.md §10.1). After each commit: the time from the api
//! receiving each event (`received_at`) to its commit, as a histogram, and the newest committed
//! arrival, as a gauge — what the dashboards and the lake show is that old. Per partition: the
//! age of the oldest message the consumer has not committed (consumer lag in seconds), from the
//! sink's own positions and the high watermark the last fetch reported: the arrival of the oldest
//! record read and not committed yet; else 0 when the sink has read up to the watermark; else
//! (behind, but nothing read yet) how long the partition has been seen behind. Every series
//! carries the consumer `group` and the `sink` (`warehouse` | `lake`), whose alert thresholds
//! differ.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use lakehouse_telemetry::metrics as names;

use crate::batch::PendingBatch;

/// The freshness metrics of one consumer.
#[derive(Debug)]
pub(crate) struct Freshness {
    group: String,
    sink: &'static str,
    /// The newest `received_at` committed by this process.
    newest: Option<DateTime<Utc>>,
    /// Per partition behind its high watermark with nothing read of what it misses: since when.
    behind_since: BTreeMap<i32, DateTime<Utc>>,
    /// The partitions whose lag this process reports, and when it last did.
    reported: BTreeSet<i32>,
    last_report: Option<DateTime<Utc>>,
}

/// How often the lag is computed: Prometheus scrapes every 15 s in production, every second in
/// the live alert test.
const REPORT_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

impl Freshness {
    pub(crate) fn new(group: &str, sink: &'static str) -> Self {
        Self {
            group: group.into(),
            sink,
            newest: None,
            behind_since: BTreeMap::new(),
            reported: BTreeSet::new(),
            last_report: None,
        }
    }

    fn labels(&self) -> [(&'static str, String); 2] {
        [("group", self.group.clone()), ("sink", self.sink.to_string())]
    }

    /// `batch` was committed at `now`.
    pub(crate) fn committed(&mut self, batch: &PendingBatch, now: DateTime<Utc>) {
        let labels = self.labels();
        let histogram = metrics::histogram!(names::SINK_FRESHNESS_SECONDS, &labels);
        for (_, received) in batch.arrivals() {
            histogram.record(seconds(now - received));
            self.newest = Some(self.newest.map_or(received, |newest| newest.max(received)));
        }
        if let Some(newest) = self.newest {
            metrics::gauge!(names::SINK_NEWEST_RECEIVED, &labels)
                .set(newest.timestamp_millis() as f64 / 1000.0);
        }
    }

    /// Sets the lag of each partition in `held` at `now`, at most once per [`REPORT_INTERVAL`]:
    /// `next` gives the offset the sink reads next (`None`: not known yet), `high` the high
    /// watermark the last fetch reported (`None`: no fetch yet, the partition is skipped), and
    /// `pending` is what was read and not committed. Partitions reported before and no longer
    /// held go to 0: their lag is their new member's to report.
    pub(crate) fn report(
        &mut self,
        held: &BTreeSet<i32>,
        next: impl Fn(i32) -> Option<i64>,
        high: impl Fn(i32) -> Option<i64>,
        pending: &PendingBatch,
        now: DateTime<Utc>,
    ) {
        if self.last_report.is_some_and(|last| now - last < REPORT_INTERVAL) {
            return;
        }
        self.last_report = Some(now);
        for partition in self.reported.difference(held).copied().collect::<Vec<_>>() {
            self.revoked(partition);
        }
        let oldest = oldest_pending(pending);
        for &partition in held {
            if let Some(high) = high(partition) {
                self.lag(
                    partition,
                    next(partition),
                    high,
                    oldest.get(&partition).copied(),
                    now,
                );
            }
        }
    }

    /// The lag of `partition` at `now`: the sink reads offset `next` next (`None`: nothing stored
    /// or read yet), the log ends before `high`, and `oldest_pending` is the arrival of the oldest
    /// record of it read but not committed. Returns the seconds it set.
    pub(crate) fn lag(
        &mut self,
        partition: i32,
        next: Option<i64>,
        high: i64,
        oldest_pending: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> f64 {
        let caught_up = next.is_some_and(|next| next >= high);
        let lag = if let Some(oldest) = oldest_pending {
            self.behind_since.remove(&partition);
            seconds(now - oldest)
        } else if caught_up {
            self.behind_since.remove(&partition);
            0.0
        } else {
            seconds(now - *self.behind_since.entry(partition).or_insert(now))
        };
        self.set_lag(partition, lag);
        lag
    }

    /// `partition` went to another member: its lag is theirs to report.
    fn revoked(&mut self, partition: i32) {
        self.behind_since.remove(&partition);
        self.set_lag(partition, 0.0);
        self.reported.remove(&partition);
    }

    fn set_lag(&mut self, partition: i32, seconds: f64) {
        self.reported.insert(partition);
        let [group, sink] = self.labels();
        metrics::gauge!(
            names::CONSUMER_LAG_SECONDS,
            &[group, sink, ("partition", partition.to_string())]
        )
        .set(seconds);
    }
}

/// The arrival of the oldest record of each partition in `batch`.
fn oldest_pending(batch: &PendingBatch) -> BTreeMap<i32, DateTime<Utc>> {
    let mut oldest: BTreeMap<i32, DateTime<Utc>> = BTreeMap::new();
    for (partition, received) in batch.arrivals() {
        oldest
            .entry(partition)
            .and_modify(|at| *at = (*at).min(received))
            .or_insert(received);
    }
    oldest
}

fn seconds(duration: chrono::Duration) -> f64 {
    (duration.num_milliseconds() as f64 / 1000.0).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use lakehouse_event::Record;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a time")
    }

    fn record(partition: i32, offset: i64, received: DateTime<Utc>) -> Record {
        let json = serde_json::json!({
            "event_id": format!("00000000-0000-4000-8000-{partition:04}{offset:08}"), "project_id": "p", "event_type": "page_view",
            "session_id": "s", "timestamp": received, "received_at": received, "schema_version": 1,
        });
        Record {
            event: serde_json::from_value(json).expect("an event"),
            partition,
            offset,
        }
    }

    #[test]
    fn lag_is_the_oldest_pending_arrival_else_zero_when_read_up_to_the_watermark_else_the_time_seen_behind() {
        let mut freshness = Freshness::new("lag-test", "warehouse");
        assert_eq!(freshness.lag(0, Some(10), 10, None, at(0)), 0.0);
        assert_eq!(freshness.lag(0, Some(10), 12, Some(at(-45)), at(0)), 45.0);
        // Read up to the watermark, not committed yet: as old as the oldest record waiting.
        assert_eq!(freshness.lag(0, Some(12), 12, Some(at(-45)), at(0)), 45.0);
        // Behind with nothing read: counted from the first time seen so.
        assert_eq!(freshness.lag(1, Some(3), 9, None, at(100)), 0.0);
        assert_eq!(freshness.lag(1, Some(3), 9, None, at(130)), 30.0);
        assert_eq!(freshness.lag(1, None, 9, None, at(160)), 60.0);
        assert_eq!(freshness.lag(1, Some(9), 9, None, at(170)), 0.0);
        assert_eq!(
            freshness.lag(1, Some(9), 11, None, at(200)),
            0.0,
            "a new stretch behind"
        );
    }

    #[test]
    fn reports_held_partitions_once_a_second_and_zeroes_those_revoked() {
        let handle = lakehouse_telemetry::metrics::install_prometheus();
        let mut freshness = Freshness::new("report-test", "warehouse");
        let series = |partition: i32, value: i64| {
            format!(
                r#"lakehouse_consumer_lag_seconds{{group="report-test",sink="warehouse",partition="{partition}"}} {value}"#
            )
        };
        let mut pending = PendingBatch::new("t");
        pending.push(record(0, 5, at(-30)), 10);
        let highs = |partition: i32| (partition != 2).then_some(6);
        freshness.report(&BTreeSet::from([0, 1, 2]), |_| Some(6), highs, &pending, at(0));
        let text = handle.render();
        assert!(text.contains(&series(0, 30)), "{text}");
        assert!(text.contains(&series(1, 0)), "{text}");
        assert!(!text.contains(r#"partition="2""#), "no fetch of 2 yet: {text}");

        // Within the interval nothing changes; after it, partition 0 is another member's.
        freshness.report(
            &BTreeSet::from([1]),
            |_| Some(6),
            highs,
            &PendingBatch::new("t"),
            at(0),
        );
        assert!(handle.render().contains(&series(0, 30)));
        pending.clear();
        freshness.report(&BTreeSet::from([1]), |_| Some(2), highs, &pending, at(1));
        let text = handle.render();
        assert!(text.contains(&series(0, 0)), "{text}");
        assert!(text.contains(&series(1, 0)), "first seen behind: {text}");
        freshness.report(&BTreeSet::from([1]), |_| Some(2), highs, &pending, at(21));
        assert!(handle.render().contains(&series(1, 20)));
    }

    #[test]
    fn commits_record_each_arrival_and_keep_the_newest() {
        let handle = lakehouse_telemetry::metrics::install_prometheus();
        let mut freshness = Freshness::new("freshness-test", "lake");
        let mut batch = PendingBatch::new("t");
        batch.push(record(0, 0, at(-90)), 10);
        batch.push(record(1, 0, at(-20)), 10);
        assert_eq!(
            oldest_pending(&batch),
            BTreeMap::from([(0, at(-90)), (1, at(-20))])
        );
        freshness.committed(&batch, at(0));
        let mut older = PendingBatch::new("t");
        older.push(record(0, 1, at(-500)), 10);
        freshness.committed(&older, at(0) + Duration::seconds(1));
        let text = handle.render();
        let newest = format!(
            r#"lakehouse_sink_newest_received_timestamp_seconds{{group="freshness-test",sink="lake"}} {}"#,
            at(-20).timestamp()
        );
        assert!(text.contains(&newest), "{text}");
        let bucket = |le: &str, count: u32| {
            format!(
                r#"lakehouse_sink_freshness_seconds_bucket{{group="freshness-test",sink="lake",le="{le}"}} {count}"#
            )
        };
        assert!(text.contains(&bucket("30", 1)), "{text}");
        assert!(text.contains(&bucket("120", 2)), "{text}");
        assert!(text.contains(&bucket("600", 3)), "{text}");
    }
}
