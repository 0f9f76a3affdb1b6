//! The stall watchdog of a group member: it tells the loop to leave the group and join again when
//! the group leaves partitions unread. A member that holds no partition while partitions of the
//! topic hold messages past the group's committed offsets and those offsets stand still (a backlog
//! nobody reads, growing or not), or that reads nothing of a growing partition it holds, or that
//! sees another partition unread far longer than any member takes to commit, rejoins once this has
//! lasted the session timeout plus a margin. A
//! broker that left partitions with members that died (DESIGN.md §6) then hands them out again; on
//! a broker that rebalances by itself the watchdog has nothing to do.
//!
//! The decisions are made here from what the loop passes in (the time, what the member holds,
//! which partitions delivered messages, and probes of the broker's high watermarks and the group's
//! committed offsets); the loop does the probing and the rejoining.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

/// What the broker said about the topic's partitions at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    /// High watermarks (the end of each log).
    pub(crate) highs: BTreeMap<i32, i64>,
    /// Low watermarks (the start of each log): a partition whose start is its end holds nothing
    /// to read, whether or not the group ever committed an offset of it.
    pub(crate) lows: BTreeMap<i32, i64>,
    /// The group's committed offsets (where its members got to); absent when none.
    pub(crate) committed: BTreeMap<i32, i64>,
}

/// Why the member should leave and join again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stall {
    /// No partition held, while these partitions held messages nobody read.
    NoPartitions { idle: Duration, unread: Vec<i32> },
    /// These held partitions grew while the member read nothing of them.
    NoProgress { quiet: Duration, stalled: Vec<i32> },
    /// These partitions, held by no live member, were unread for this long.
    Orphaned {
        unread_for: Duration,
        partitions: Vec<i32>,
    },
}

impl Stall {
    /// The metric label of the reason.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Stall::NoPartitions { .. } => "no_partitions",
            Stall::NoProgress { .. } => "no_progress",
            Stall::Orphaned { .. } => "orphaned_partitions",
        }
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stall::NoPartitions { idle, unread } => write!(
                f,
                "held no partition for {} s while partitions {unread:?} held messages nobody read",
                idle.as_secs()
            ),
            Stall::NoProgress { quiet, stalled } => write!(
                f,
                "read nothing of held partitions {stalled:?} for {} s while they grew",
                quiet.as_secs()
            ),
            Stall::Orphaned {
                unread_for,
                partitions,
            } => write!(
                f,
                "partitions {partitions:?} held unread messages for {} s while the group's committed offsets of them stood still",
                unread_for.as_secs()
            ),
        }
    }
}

/// The watchdog's memory between ticks.
#[derive(Debug)]
pub(crate) struct Watchdog {
    /// Session timeout plus margin: how long a member may hold nothing or read nothing.
    base: Duration,
    /// `base`, doubled after each rejoin that did not help, up to `8 × base`.
    limit: Duration,
    /// How long a member may take between two commits (its flush age): partitions another member
    /// holds count as orphaned only after standing still for much longer than that.
    commit_interval: Duration,
    /// Since when the member holds nothing.
    idle_since: Option<Instant>,
    /// The held partitions and when each last delivered a message (or was assigned).
    heard: BTreeMap<i32, Instant>,
    /// The previous probe.
    previous: Option<(Instant, Probe)>,
    /// Per partition, since when it has grown while the group's committed offset of it stood
    /// still (since the probe before the one that first saw it).
    unread_since: BTreeMap<i32, Instant>,
    /// The last tick: a loop blocked longer than a probe interval (a sink commit retried through
    /// an outage) restarts the clocks, since the group is not to blame.
    last_tick: Option<Instant>,
    /// True once a stall led to a rejoin and no progress followed yet.
    rejoined: bool,
    /// True while the member holds nothing and partitions hold messages nobody reads.
    needed: bool,
}

impl Watchdog {
    /// A watchdog for a member whose session times out after `session_timeout` and whose batches
    /// are committed at least every `commit_interval`.
    pub(crate) fn new(
        session_timeout: Duration,
        margin: Duration,
        commit_interval: Duration,
        now: Instant,
    ) -> Self {
        let base = session_timeout + margin;
        Self {
            base,
            limit: base,
            commit_interval,
            idle_since: Some(now),
            heard: BTreeMap::new(),
            previous: None,
            unread_since: BTreeMap::new(),
            last_tick: None,
            rejoined: false,
            needed: false,
        }
    }

    /// How long the member may hold nothing, or read nothing of a growing partition, before it
    /// rejoins.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// Probes are this far apart, so that two of them fit in the limit.
    fn interval(&self) -> Duration {
        self.limit / 2
    }

    /// The partitions that have grown unread for at least `at_least`.
    fn unread_for(&self, now: Instant, at_least: Duration) -> BTreeMap<i32, Duration> {
        self.unread_since
            .iter()
            .map(|(&p, since)| (p, now.duration_since(*since)))
            .filter(|(_, unread_for)| *unread_for >= at_least)
            .collect()
    }

    /// The member's assignment changed to `held` (empty: it holds nothing).
    pub(crate) fn assigned(&mut self, held: &BTreeSet<i32>, now: Instant) {
        self.heard = held.iter().map(|&p| (p, now)).collect();
        self.idle_since = held.is_empty().then_some(now);
        self.needed = false;
    }

    /// A message of `partition` arrived.
    pub(crate) fn heard(&mut self, partition: i32, now: Instant) {
        if let Some(last) = self.heard.get_mut(&partition) {
            *last = now;
        }
    }

    /// The member left the group to join again: it holds nothing until the group answers, and a
    /// rejoin that follows another before the group read everything again waits twice as long.
    pub(crate) fn left(&mut self, now: Instant) {
        self.assigned(&BTreeSet::new(), now);
        self.limit = if self.rejoined {
            (self.limit * 2).min(self.base * 8)
        } else {
            self.base
        };
        self.rejoined = true;
        self.previous = None;
        self.unread_since.clear();
    }

    /// True while the member holds nothing and partitions hold messages nobody reads: the member is of
    /// no use then, and `/ready` says so.
    pub(crate) fn is_idle_while_needed(&self) -> bool {
        self.needed
    }

    /// Called on every tick of the loop: true when a probe of the broker is due, whose answer goes
    /// to [`Watchdog::judge`].
    pub(crate) fn probe_due(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last_tick.replace(now)
            && now.duration_since(last) > self.interval()
        {
            self.restart(now);
        }
        self.previous
            .as_ref()
            .is_none_or(|(at, _)| now.duration_since(*at) >= self.interval())
    }

    /// Judges a probe of the whole topic; `ignore` are held partitions not to watch (paused on
    /// purpose). A stall when the member should rejoin.
    pub(crate) fn judge(&mut self, now: Instant, probe: Probe, ignore: &BTreeSet<i32>) -> Option<Stall> {
        let (before_at, before) = self.previous.replace((now, probe.clone()))?;
        let grew = |p: &i32| {
            let high = probe.highs.get(p);
            high.is_some() && high > before.highs.get(p)
        };
        self.needed = false;
        // Unread: messages past the group's committed offset, which did not move since the last
        // probe. Growth is not required: a backlog left when traffic stops needs a reader too.
        for &p in probe.highs.keys() {
            let committed = probe.committed.get(&p);
            // A group that never committed an offset of the partition would read it from its start.
            let start = committed.or(probe.lows.get(&p));
            let caught_up = start.is_some_and(|s| Some(s) >= probe.highs.get(&p));
            if caught_up || committed != before.committed.get(&p) {
                self.unread_since.remove(&p);
            } else {
                self.unread_since.entry(p).or_insert(before_at);
            }
        }
        if self.idle_since.is_none() && self.unread_since.is_empty() {
            // The group reads everything again: the next stall starts from the base limit.
            self.rejoined = false;
            self.limit = self.base;
        }
        // Whoever holds a partition commits at least every commit interval: growth unread for two
        // of them is not a slow member.
        let unread = self.unread_for(now, 2 * self.commit_interval);
        if let Some(since) = self.idle_since {
            let idle = now.duration_since(since);
            self.needed = !unread.is_empty();
            return (idle >= self.limit && self.needed).then(|| Stall::NoPartitions {
                idle,
                unread: unread.into_keys().collect(),
            });
        }
        let quiet_for = |p: &i32| self.heard.get(p).map(|last| now.duration_since(*last));
        let stalled: Vec<i32> = self
            .heard
            .keys()
            .filter(|p| !ignore.contains(p) && grew(p))
            .filter(|p| quiet_for(p).is_some_and(|quiet| quiet >= self.limit))
            .copied()
            .collect();
        if let Some(quiet) = stalled.iter().filter_map(quiet_for).min() {
            return Some(Stall::NoProgress { quiet, stalled });
        }
        let orphaned: BTreeMap<i32, Duration> = self
            .unread_for(now, self.limit + 2 * self.commit_interval)
            .into_iter()
            .filter(|(p, _)| !self.heard.contains_key(p))
            .collect();
        let unread_for = orphaned.values().min().copied()?;
        Some(Stall::Orphaned {
            unread_for,
            partitions: orphaned.into_keys().collect(),
        })
    }

    /// Restarts every clock from `now`, keeping what the member holds.
    fn restart(&mut self, now: Instant) {
        self.previous = None;
        self.unread_since.clear();
        self.needed = false;
        if self.idle_since.is_some() {
            self.idle_since = Some(now);
        }
        for last in self.heard.values_mut() {
            *last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_secs(6);
    const MARGIN: Duration = Duration::from_secs(4);
    const COMMITS: Duration = Duration::from_millis(500);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn probe(highs: &[(i32, i64)], committed: &[(i32, i64)]) -> Probe {
        Probe {
            highs: highs.iter().copied().collect(),
            lows: BTreeMap::new(),
            committed: committed.iter().copied().collect(),
        }
    }

    fn none() -> BTreeSet<i32> {
        BTreeSet::new()
    }

    /// Ticks every 500 ms from `from` until `to`, answering each probe with `answer(at)` and
    /// calling `each(at)` first; the first stall and when it came.
    fn run(
        dog: &mut Watchdog,
        from: Instant,
        to: Instant,
        mut each: impl FnMut(&mut Watchdog, Instant),
        answer: impl Fn(Duration) -> Probe,
        ignore: &BTreeSet<i32>,
    ) -> Option<(Duration, Stall)> {
        let mut at = from;
        while at < to {
            each(dog, at);
            if dog.probe_due(at)
                && let Some(stall) = dog.judge(at, answer(at - from), ignore)
            {
                return Some((at - from, stall));
            }
            at += Duration::from_millis(500);
        }
        None
    }

    /// A topic of partitions 0 and 1 whose ends grow by 10 a second; the group's committed
    /// offsets of `read` follow them, the others stay at 0.
    fn growing(read: &'static [i32]) -> impl Fn(Duration) -> Probe {
        move |elapsed| {
            let high = 10 * elapsed.as_secs() as i64 + 10;
            let committed: Vec<(i32, i64)> = read.iter().map(|&p| (p, high - 3)).collect();
            probe(&[(0, high), (1, high)], &committed)
        }
    }

    #[test]
    fn a_member_holding_nothing_while_the_log_grows_unread_rejoins_after_the_limit() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        assert_eq!(dog.limit(), secs(10));
        let found = run(
            &mut dog,
            start,
            start + secs(60),
            |_, _| {},
            growing(&[1]),
            &none(),
        );
        let (at, stall) = found.expect("a stall");
        assert_eq!(at, secs(10));
        assert_eq!(
            stall,
            Stall::NoPartitions {
                idle: secs(10),
                unread: vec![0]
            }
        );
        assert_eq!(stall.reason(), "no_partitions");
        assert!(dog.is_idle_while_needed(), "/ready fails meanwhile");
    }

    #[test]
    fn a_member_holding_nothing_stays_while_the_group_reads_what_arrives() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        let found = run(
            &mut dog,
            start,
            start + secs(120),
            |_, _| {},
            growing(&[0, 1]),
            &none(),
        );
        assert_eq!(found, None);
        assert!(!dog.is_idle_while_needed());
    }

    #[test]
    fn a_member_holding_nothing_stays_while_the_group_has_read_everything() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        let quiet = |_| probe(&[(0, 100), (1, 7)], &[(0, 100), (1, 7)]);
        assert_eq!(
            run(&mut dog, start, start + secs(120), |_, _| {}, quiet, &none()),
            None
        );
        assert!(!dog.is_idle_while_needed());
    }

    #[test]
    fn partitions_that_hold_nothing_are_not_unread_though_the_group_never_committed() {
        // Partition 0 never had a message, partition 1's were all deleted by retention: the group
        // has no offset of either and nothing to read. Partition 2 holds messages from offset 5.
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        let mut empty = probe(&[(0, 0), (1, 40), (2, 9)], &[]);
        empty.lows = BTreeMap::from([(0, 0), (1, 40), (2, 5)]);
        let only_2 = empty.clone();
        empty.highs.remove(&2);
        let quiet = |_| empty.clone();
        assert_eq!(
            run(&mut dog, start, start + secs(120), |_, _| {}, quiet, &none()),
            None
        );
        assert!(!dog.is_idle_while_needed());

        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        let (_, stall) = run(
            &mut dog,
            start,
            start + secs(60),
            |_, _| {},
            |_| only_2.clone(),
            &none(),
        )
        .expect("a stall");
        assert_eq!(
            stall,
            Stall::NoPartitions {
                idle: secs(10),
                unread: vec![2]
            }
        );
    }

    #[test]
    fn a_member_holding_nothing_rejoins_when_a_backlog_sits_unread_after_traffic_stopped() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        let backlog = |_| probe(&[(0, 100), (1, 7)], &[(1, 2)]);
        let (at, stall) =
            run(&mut dog, start, start + secs(60), |_, _| {}, backlog, &none()).expect("a stall");
        assert_eq!(at, secs(10));
        assert_eq!(
            stall,
            Stall::NoPartitions {
                idle: secs(10),
                unread: vec![0, 1]
            }
        );
        assert!(dog.is_idle_while_needed(), "/ready fails meanwhile");
    }

    #[test]
    fn a_slow_member_of_the_group_is_not_taken_for_a_missing_one() {
        // Members that commit every 60 s: an idle member waits out two of their commits.
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, secs(60), start);
        let every_minute = |elapsed: Duration| {
            let high = 10 * elapsed.as_secs() as i64 + 10;
            let committed = 600 * (elapsed.as_secs() as i64 / 60);
            probe(&[(0, high)], &[(0, committed)])
        };
        assert_eq!(
            run(
                &mut dog,
                start,
                start + secs(600),
                |_, _| {},
                every_minute,
                &none()
            ),
            None
        );
        let stuck = |elapsed: Duration| probe(&[(0, 10 * elapsed.as_secs() as i64 + 10)], &[]);
        let mut dog = Watchdog::new(SESSION, MARGIN, secs(60), start);
        let (at, _) = run(&mut dog, start, start + secs(600), |_, _| {}, stuck, &none()).expect("a stall");
        assert!(at >= secs(120) && at <= secs(130), "{at:?}");
    }

    #[test]
    fn a_member_reading_its_partitions_is_never_told_to_rejoin() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        dog.assigned(&BTreeSet::from([0, 1]), start);
        let hear = |dog: &mut Watchdog, at| {
            dog.heard(0, at);
            dog.heard(1, at);
        };
        assert_eq!(
            run(
                &mut dog,
                start,
                start + secs(120),
                hear,
                growing(&[0, 1]),
                &none()
            ),
            None
        );
    }

    #[test]
    fn a_held_partition_that_grows_unread_is_a_stall_unless_it_is_paused() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        dog.assigned(&BTreeSet::from([0, 1]), start);
        let hear_1 = |dog: &mut Watchdog, at| dog.heard(1, at);
        let (at, stall) =
            run(&mut dog, start, start + secs(60), hear_1, growing(&[1]), &none()).expect("a stall");
        assert_eq!(at, secs(10));
        assert_eq!(
            stall,
            Stall::NoProgress {
                quiet: secs(10),
                stalled: vec![0]
            }
        );
        assert_eq!(stall.reason(), "no_progress");

        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        dog.assigned(&BTreeSet::from([0, 1]), start);
        let paused = BTreeSet::from([0]); // its stored offset is past its end
        let found = run(&mut dog, start, start + secs(60), hear_1, growing(&[1]), &paused);
        assert_eq!(found, None);
    }

    #[test]
    fn a_held_partition_whose_log_does_not_grow_is_left_alone() {
        // A position inside the last batch of a log nobody writes to: nothing can be read.
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        dog.assigned(&BTreeSet::from([0]), start);
        let quiet = |_| probe(&[(0, 500)], &[(0, 498)]);
        assert_eq!(
            run(&mut dog, start, start + secs(120), |_, _| {}, quiet, &none()),
            None
        );
    }

    #[test]
    fn a_partition_nobody_reads_beside_the_ones_held_is_orphaned_after_the_longer_limit() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, secs(2), start);
        dog.assigned(&BTreeSet::from([1]), start);
        let hear_1 = |dog: &mut Watchdog, at| dog.heard(1, at);
        let (at, stall) =
            run(&mut dog, start, start + secs(60), hear_1, growing(&[1]), &none()).expect("a stall");
        // Growing unread since the probe before the one that saw it (0 s); the limit plus two
        // commit intervals (14 s) have passed at the probe of 15 s.
        assert_eq!(at, secs(15));
        assert_eq!(
            stall,
            Stall::Orphaned {
                unread_for: secs(15),
                partitions: vec![0]
            }
        );
        assert_eq!(stall.reason(), "orphaned_partitions");
        assert!(
            !dog.is_idle_while_needed(),
            "a member that holds partitions stays ready"
        );
    }

    #[test]
    fn a_loop_blocked_by_its_sink_restarts_the_clocks() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        dog.assigned(&BTreeSet::from([0]), start);
        assert!(dog.probe_due(start + secs(5)));
        assert_eq!(dog.judge(start + secs(5), growing(&[])(secs(5)), &none()), None);
        // A commit retried for 40 s: the next tick comes late and the clocks start over.
        let late = start + secs(45);
        let found = run(&mut dog, late, late + secs(9), |_, _| {}, growing(&[]), &none());
        assert_eq!(found, None, "not before a whole limit after the sink let go");
        let found = run(
            &mut dog,
            late + secs(9),
            late + secs(20),
            |_, _| {},
            growing(&[]),
            &none(),
        );
        assert!(matches!(found, Some((_, Stall::NoProgress { .. }))), "{found:?}");
    }

    #[test]
    fn rejoins_that_do_not_help_wait_twice_as_long_each_time_until_the_group_reads_again() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        dog.left(start);
        assert_eq!(dog.limit(), secs(10), "the first rejoin keeps the limit");
        for expected in [20, 40, 80, 80] {
            dog.left(start);
            assert_eq!(dog.limit(), secs(expected));
        }
        dog.assigned(&BTreeSet::from([0, 1]), start);
        assert_eq!(dog.limit(), secs(80), "an assignment alone is no proof");
        let all_read = growing(&[0, 1]);
        assert!(dog.probe_due(start));
        dog.judge(start, all_read(secs(0)), &none());
        assert!(dog.probe_due(start + secs(40)));
        dog.judge(start + secs(40), all_read(secs(40)), &none());
        assert_eq!(dog.limit(), secs(10));
    }

    #[test]
    fn a_new_assignment_keeps_watching_the_group() {
        let start = Instant::now();
        let mut dog = Watchdog::new(SESSION, MARGIN, COMMITS, start);
        let unread = growing(&[]);
        assert!(dog.probe_due(start + secs(5)));
        assert_eq!(dog.judge(start + secs(5), unread(secs(5)), &none()), None);
        dog.assigned(&BTreeSet::new(), start + secs(6));
        assert!(!dog.probe_due(start + secs(8)));
        assert!(dog.probe_due(start + secs(10)));
        assert_eq!(
            dog.judge(start + secs(10), unread(secs(10)), &none()),
            None,
            "idle since the new assignment only"
        );
        assert!(dog.is_idle_while_needed());
    }
}
