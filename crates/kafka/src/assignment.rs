//! The partitions of the current assignment and what the loop has done with each: sought to the
//! sink's stored position (so that a sink behind Kafka's committed offset is refilled even if no
//! new message arrives), checked against the end of the log (a stored offset past the end pauses
//! the partition), and, for drains, read up to the end as of assignment.

use std::collections::{BTreeMap, BTreeSet};

use rdkafka::Offset;
use rdkafka::error::KafkaError;

use crate::position::Positions;

/// What the assignment's bookkeeping asks of the consumer: the group member in production, a fake
/// in unit tests.
pub(crate) trait Broker {
    /// Seeks `partition` to `target`; fails while librdkafka is not fetching the partition yet.
    fn seek(&self, partition: i32, target: Offset) -> Result<(), KafkaError>;
    /// The low and high watermarks the last fetch of `partition` reported; `None` (or a negative
    /// high watermark) before the first fetch answered. Kept by librdkafka across assignments, so
    /// possibly from before another member read the partition further.
    fn cached_watermarks(&self, partition: i32) -> Option<(i64, i64)>;
    /// The watermarks from a fetch of a client of its own, with nothing cached; `None` when the
    /// broker does not answer in time.
    async fn fresh_watermarks(&self, partition: i32) -> Option<(i64, i64)>;
    /// Stops fetching `partition`.
    fn pause(&self, partition: i32) -> Result<(), KafkaError>;
}

/// A partition whose stored offset lies past the end of its log: paused, never read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PastEnd {
    pub(crate) partition: i32,
    pub(crate) position: i64,
    pub(crate) log_end: i64,
}

/// What the loop knows about the partitions of the current assignment; replaced at every
/// rebalance.
#[derive(Debug, Default)]
pub(crate) struct Assignment {
    pub(crate) partitions: BTreeSet<i32>,
    /// Partitions not yet sought to the sink's stored position.
    unsought: BTreeSet<i32>,
    /// The sink's stored offsets, as read for the seeks: a seek librdkafka refuses is retried
    /// without asking the sink again (for the lake, a read of the table).
    stored: BTreeMap<i32, Option<i64>>,
    /// Partitions whose read position is not yet checked against the end of the log.
    unverified: BTreeSet<i32>,
    /// Low and high watermarks of each partition, from the first fetch after assignment.
    ends: BTreeMap<i32, (i64, i64)>,
    /// Partitions whose stored offset lies past the log's end: paused, never read.
    pub(crate) past_end: BTreeSet<i32>,
    /// Partitions held at a message of a contract version this code does not know (its offset
    /// and version): paused, read again only by a member that knows the version.
    pub(crate) newer: BTreeMap<i32, (i64, u16)>,
}

impl Assignment {
    pub(crate) fn new(partitions: BTreeSet<i32>) -> Self {
        Self {
            unsought: partitions.clone(),
            partitions,
            ..Self::default()
        }
    }

    /// True while a partition waits for its seek or for its check against the end of the log.
    pub(crate) fn is_settling(&self) -> bool {
        !self.unsought.is_empty() || !self.unverified.is_empty()
    }

    /// The partitions that wait for their seek and whose stored offset the sink has not been
    /// asked for yet: the loop asks the sink and passes each answer to [`Assignment::stored`].
    /// A partition a message already positioned needs no seek and is not asked for.
    pub(crate) fn unlooked(&self, positions: &Positions) -> Vec<i32> {
        self.unsought
            .iter()
            .filter(|&&p| !positions.is_known(p) && !self.stored.contains_key(&p))
            .copied()
            .collect()
    }

    /// The sink's stored offset of `partition` (`None`: it stored nothing of it), for its seek.
    pub(crate) fn stored(&mut self, partition: i32, stored: Option<i64>) {
        self.stored.insert(partition, stored);
    }

    /// Seeks each newly assigned partition whose stored offset is known to that position. A seek
    /// librdkafka refuses stays pending for the next call, without asking the sink again; a
    /// partition a message already positioned needs no seek.
    pub(crate) fn seek_unsought(&mut self, positions: &mut Positions, broker: &impl Broker) {
        for partition in self.unsought.clone() {
            if positions.is_known(partition) {
                self.unsought.remove(&partition);
                self.unverified.insert(partition);
                continue;
            }
            let Some(&stored) = self.stored.get(&partition) else {
                continue;
            };
            let target = stored.map_or(Offset::Beginning, Offset::Offset);
            match broker.seek(partition, target) {
                Ok(()) => {
                    tracing::info!(partition, target = ?target, "assigned partition sought to the sink's stored position");
                    positions.sought(partition, stored);
                    self.unsought.remove(&partition);
                    self.unverified.insert(partition);
                }
                Err(error) => tracing::debug!(partition, %error, "seek not possible yet; retrying"),
            }
        }
    }

    /// Checks each positioned partition's read position against the end of its log, once a fetch
    /// has reported the watermarks (the fetch's high watermark rather than a ListOffsets answer:
    /// DESIGN.md §6). A position past the end (the topic was recreated, or the broker lost data)
    /// would make the loop skip every new message below it, silently: such a partition is paused
    /// and returned, and stays paused until its stored offset is reset; what arrived meanwhile
    /// lies below the stored offset and is read after the reset. Watermarks cached before this
    /// assignment may be stale, so a broker's fresh answer decides before anything is paused.
    pub(crate) async fn verify_ends(&mut self, positions: &Positions, broker: &impl Broker) -> Vec<PastEnd> {
        let mut paused = Vec::new();
        for partition in self.unverified.clone() {
            let Some((low, high)) = broker.cached_watermarks(partition) else {
                continue;
            };
            if high < 0 {
                continue; // no fetch answered yet
            }
            // The position is the stored offset, or past it by what was read since (never past
            // the log's end); unknown while reading from the beginning, which cannot be past it.
            let past = positions.next(partition).filter(|&next| next > high);
            let (low, high, past) = match past {
                None => (low, high, None),
                Some(position) => match broker.fresh_watermarks(partition).await {
                    Some((low, fresh)) => {
                        if position <= fresh {
                            tracing::info!(
                                partition,
                                position,
                                cached_end = high,
                                log_end = fresh,
                                "watermarks cached before this assignment were stale; the broker's are current"
                            );
                        }
                        (low, fresh, Some(position).filter(|&next| next > fresh))
                    }
                    None => continue, // the broker did not answer: ask again on the next tick
                },
            };
            self.unverified.remove(&partition);
            self.ends.insert(partition, (low, high));
            let Some(position) = past else {
                continue;
            };
            if let Err(error) = broker.pause(partition) {
                tracing::error!(partition, %error, "cannot pause the partition");
            }
            self.past_end.insert(partition);
            paused.push(PastEnd {
                partition,
                position,
                log_end: high,
            });
        }
        paused
    }

    /// The partitions paused for good in this assignment: past the end of the log, or held at a
    /// contract version this code does not know.
    pub(crate) fn paused(&self) -> BTreeSet<i32> {
        self.past_end.iter().chain(self.newer.keys()).copied().collect()
    }

    /// Pauses `partition` at `offset`, a message of contract `version` this code does not know;
    /// false when it was held already (messages fetched before the pause keep arriving).
    pub(crate) fn hold_newer(
        &mut self,
        partition: i32,
        offset: i64,
        version: u16,
        broker: &impl Broker,
    ) -> bool {
        if self.newer.contains_key(&partition) {
            return false;
        }
        if let Err(error) = broker.pause(partition) {
            tracing::error!(partition, %error, "cannot pause the partition");
        }
        self.newer.insert(partition, (offset, version));
        true
    }

    /// The partitions held at an event of a newer contract, as the `schema` check reports them.
    pub(crate) fn held_newer(&self) -> String {
        let held: Vec<String> = self
            .newer
            .iter()
            .map(|(partition, (offset, version))| {
                format!("partition {partition} at offset {offset} (schema_version {version})")
            })
            .collect();
        format!(
            "events of a contract version newer than {}: {}",
            lakehouse_event::SCHEMA_VERSION,
            held.join(", ")
        )
    }

    /// True when every assigned partition was sought, checked against its log, and read up to
    /// its end as of assignment (or paused for good).
    pub(crate) fn caught_up(&self, positions: &Positions) -> bool {
        !self.partitions.is_empty()
            && self.unsought.is_empty()
            && self.unverified.is_empty()
            && self.partitions.iter().all(|p| {
                self.past_end.contains(p)
                    || self.newer.contains_key(p)
                    || self.ends.get(p).is_some_and(|&(low, high)| {
                        high <= low || positions.next(*p).is_some_and(|next| next >= high)
                    })
            })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::position::Admission;

    /// A consumer whose seeks, watermarks and pauses are set and recorded by the test.
    #[derive(Default)]
    struct FakeBroker {
        refused: RefCell<BTreeSet<i32>>,
        sought: RefCell<Vec<(i32, Offset)>>,
        cached: BTreeMap<i32, (i64, i64)>,
        fresh: BTreeMap<i32, (i64, i64)>,
        fresh_asked: RefCell<Vec<i32>>,
        paused: RefCell<Vec<i32>>,
    }

    impl Broker for FakeBroker {
        fn seek(&self, partition: i32, target: Offset) -> Result<(), KafkaError> {
            if self.refused.borrow().contains(&partition) {
                return Err(KafkaError::Seek("not fetching yet".into()));
            }
            self.sought.borrow_mut().push((partition, target));
            Ok(())
        }

        fn cached_watermarks(&self, partition: i32) -> Option<(i64, i64)> {
            self.cached.get(&partition).copied()
        }

        async fn fresh_watermarks(&self, partition: i32) -> Option<(i64, i64)> {
            self.fresh_asked.borrow_mut().push(partition);
            self.fresh.get(&partition).copied()
        }

        fn pause(&self, partition: i32) -> Result<(), KafkaError> {
            self.paused.borrow_mut().push(partition);
            Ok(())
        }
    }

    /// A sink's stored offsets, counting the lookups.
    fn stored(offsets: &[(i32, Option<i64>)]) -> (BTreeMap<i32, Option<i64>>, RefCell<Vec<i32>>) {
        (offsets.iter().copied().collect(), RefCell::new(Vec::new()))
    }

    async fn settle(
        assignment: &mut Assignment,
        positions: &mut Positions,
        broker: &FakeBroker,
        (offsets, lookups): &(BTreeMap<i32, Option<i64>>, RefCell<Vec<i32>>),
    ) -> Vec<PastEnd> {
        for partition in assignment.unlooked(positions) {
            lookups.borrow_mut().push(partition);
            assignment.stored(partition, offsets[&partition]);
        }
        assignment.seek_unsought(positions, broker);
        assignment.verify_ends(positions, broker).await
    }

    #[tokio::test]
    async fn assigned_partitions_are_sought_to_the_stored_offset_or_the_beginning() {
        let broker = FakeBroker::default();
        let sink = stored(&[(0, Some(42)), (1, None)]);
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0, 1]));
        settle(&mut assignment, &mut positions, &broker, &sink).await;
        assert_eq!(
            *broker.sought.borrow(),
            [(0, Offset::Offset(42)), (1, Offset::Beginning)]
        );
        assert_eq!(positions.next(0), Some(42));
        assert_eq!(
            positions.admit(0, 17),
            Admission::Skip,
            "a fetch from before the seek"
        );
        assert_eq!(positions.admit(1, 0), Admission::Accept);
    }

    #[tokio::test]
    async fn a_refused_seek_is_retried_without_asking_the_sink_again() {
        let broker = FakeBroker::default();
        broker.refused.borrow_mut().insert(0);
        let sink = stored(&[(0, Some(7))]);
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0]));
        settle(&mut assignment, &mut positions, &broker, &sink).await;
        assert!(broker.sought.borrow().is_empty());
        assert!(assignment.is_settling());
        assert!(!positions.is_known(0));

        broker.refused.borrow_mut().clear();
        settle(&mut assignment, &mut positions, &broker, &sink).await;
        assert_eq!(*broker.sought.borrow(), [(0, Offset::Offset(7))]);
        assert_eq!(*sink.1.borrow(), [0], "the sink is asked once");
    }

    #[tokio::test]
    async fn a_partition_positioned_by_its_first_message_is_not_sought() {
        let broker = FakeBroker::default();
        let sink = stored(&[(0, Some(3))]);
        let mut positions = Positions::default();
        positions.resolve(0, Some(3));
        let mut assignment = Assignment::new(BTreeSet::from([0]));
        settle(&mut assignment, &mut positions, &broker, &sink).await;
        assert!(broker.sought.borrow().is_empty());
        assert!(sink.1.borrow().is_empty());
    }

    #[tokio::test]
    async fn a_partition_whose_stored_offset_is_not_known_yet_stays_unsought() {
        let broker = FakeBroker::default();
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0]));
        assert_eq!(assignment.unlooked(&positions), [0]);
        assignment.seek_unsought(&mut positions, &broker);
        assert!(broker.sought.borrow().is_empty());
        assert!(assignment.is_settling());
        assert_eq!(assignment.unlooked(&positions), [0], "asked for again");
    }

    #[tokio::test]
    async fn ends_are_checked_only_once_a_fetch_reported_them() {
        let mut broker = FakeBroker::default();
        broker.cached.insert(1, (-1, -1));
        let sink = stored(&[(0, Some(5)), (1, Some(5))]);
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0, 1]));
        assert!(
            settle(&mut assignment, &mut positions, &broker, &sink)
                .await
                .is_empty()
        );
        assert!(
            assignment.is_settling(),
            "no watermarks for 0, none fetched for 1"
        );
        assert!(!assignment.caught_up(&positions));

        broker.cached.extend([(0, (0, 5)), (1, (0, 9))]);
        assert!(
            settle(&mut assignment, &mut positions, &broker, &sink)
                .await
                .is_empty()
        );
        assert!(!assignment.is_settling());
        assert!(broker.paused.borrow().is_empty());
        assert!(
            broker.fresh_asked.borrow().is_empty(),
            "no position is past a cached end"
        );
    }

    #[tokio::test]
    async fn a_stored_offset_past_the_end_of_the_log_pauses_the_partition() {
        let mut broker = FakeBroker::default();
        broker.cached.insert(0, (0, 100));
        broker.fresh.insert(0, (0, 100));
        broker.cached.insert(1, (0, 10));
        let sink = stored(&[(0, Some(250)), (1, Some(10))]);
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0, 1]));
        let paused = settle(&mut assignment, &mut positions, &broker, &sink).await;
        assert_eq!(
            paused,
            [PastEnd {
                partition: 0,
                position: 250,
                log_end: 100
            }]
        );
        assert_eq!(*broker.paused.borrow(), [0]);
        assert_eq!(
            *broker.fresh_asked.borrow(),
            [0],
            "the broker is asked before pausing"
        );
        assert_eq!(assignment.past_end, BTreeSet::from([0]));
        assert!(
            assignment.caught_up(&positions),
            "a drain ends: 1 is at its end, 0 is paused"
        );
    }

    #[tokio::test]
    async fn a_partition_held_at_a_newer_contract_is_paused_once_and_counts_as_done_for_a_drain() {
        let mut broker = FakeBroker::default();
        broker.cached.insert(0, (0, 100));
        broker.cached.insert(1, (0, 10));
        let sink = stored(&[(0, Some(40)), (1, Some(10))]);
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0, 1]));
        assert!(
            settle(&mut assignment, &mut positions, &broker, &sink)
                .await
                .is_empty()
        );
        assert!(
            !assignment.caught_up(&positions),
            "partition 0 is read up to 40 of 100"
        );
        assert!(assignment.hold_newer(0, 40, 9, &broker));
        assert!(!assignment.hold_newer(0, 41, 9, &broker), "held already");
        assert_eq!(*broker.paused.borrow(), [0]);
        assert_eq!(assignment.newer, BTreeMap::from([(0, (40, 9))]));
        assert_eq!(
            assignment.paused(),
            BTreeSet::from([0]),
            "the watchdog leaves it alone"
        );
        assert!(assignment.caught_up(&positions), "1 is at its end, 0 is held");
    }

    #[tokio::test]
    async fn stale_cached_watermarks_are_checked_against_the_broker_before_pausing() {
        let mut broker = FakeBroker::default();
        broker.cached.insert(0, (0, 100));
        broker.fresh.insert(0, (0, 300));
        let sink = stored(&[(0, Some(250))]);
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0]));
        assert!(
            settle(&mut assignment, &mut positions, &broker, &sink)
                .await
                .is_empty()
        );
        assert!(broker.paused.borrow().is_empty());
        assert!(assignment.past_end.is_empty());
        assert!(
            !assignment.caught_up(&positions),
            "the end is the broker's 300, not the cached 100"
        );
        for offset in 250..300 {
            assert_eq!(positions.admit(0, offset), Admission::Accept);
        }
        assert!(assignment.caught_up(&positions));
    }

    #[tokio::test]
    async fn a_broker_that_does_not_answer_leaves_the_check_for_the_next_tick() {
        let mut broker = FakeBroker::default();
        broker.cached.insert(0, (0, 100));
        let sink = stored(&[(0, Some(250))]);
        let mut positions = Positions::default();
        let mut assignment = Assignment::new(BTreeSet::from([0]));
        assert!(
            settle(&mut assignment, &mut positions, &broker, &sink)
                .await
                .is_empty()
        );
        assert!(broker.paused.borrow().is_empty(), "nothing is paused on a guess");
        assert!(assignment.is_settling());
    }

    #[tokio::test]
    async fn a_drain_is_caught_up_when_each_partition_is_read_to_its_end_as_of_assignment() {
        let mut broker = FakeBroker::default();
        broker.cached.extend([(0, (0, 3)), (1, (4, 4)), (2, (0, 2))]);
        let sink = stored(&[(0, Some(1)), (1, Some(4)), (2, None)]);
        let mut positions = Positions::default();
        assert!(!Assignment::default().caught_up(&positions), "nothing assigned");
        let mut assignment = Assignment::new(BTreeSet::from([0, 1, 2]));
        settle(&mut assignment, &mut positions, &broker, &sink).await;
        assert!(!assignment.is_settling());
        // 1 is empty; 0 needs offsets 1 and 2; 2 is read from the beginning, position unknown.
        assert_eq!(positions.admit(0, 1), Admission::Accept);
        assert!(!assignment.caught_up(&positions));
        assert_eq!(positions.admit(0, 2), Admission::Accept);
        assert!(!assignment.caught_up(&positions), "2 is not read yet");
        assert_eq!(positions.admit(2, 0), Admission::Accept);
        assert!(!assignment.caught_up(&positions));
        assert_eq!(positions.admit(2, 1), Admission::Accept);
        assert!(assignment.caught_up(&positions));
    }
}
