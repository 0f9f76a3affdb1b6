//! Where each assigned partition must be read from. The sink's stored offset is the truth: after
//! every (re)assignment the first message of a partition is checked against it, and the consumer
//! seeks there when Kafka's committed offset (only a lag gauge) disagrees. Messages below the
//! position are redeliveries and are skipped, so nothing the sink committed is written twice.
//!
//! A first message past the position is not taken for a gap in the log until a message below it
//! has been seen: a broker may answer a fetch from inside a record batch with the *next* batch
//! (DESIGN.md §6), and the records of that batch from the position on would be skipped. The
//! consumer seeks back, twice as far each time, until the broker delivers from below the
//! position; a gap that is still there then is real (retention, transaction markers).

use std::collections::HashMap;

use rdkafka::Offset;

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Not known yet: ask the sink for its stored offset, then call [`Positions::resolve`].
    Lookup,
    /// Write it.
    Accept,
    /// Already in the sink (or a stale fetch from before a seek): drop it.
    Skip,
    /// Drop it and seek the partition here.
    Seek(Offset),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The sink expects this offset next; no message has been checked yet.
    Expect(i64),
    /// We sought to `from` (at or below `target`, the next offset to accept); messages from
    /// before the seek may still arrive. `below`: a message below `target` arrived since, so the
    /// broker delivers the log from below it.
    Seeking { target: i64, from: i64, below: bool },
    /// The sink has nothing for this partition; we sought to its beginning.
    SeekingStart,
    /// In step: the next offset to accept.
    Ready(i64),
}

impl State {
    /// Just sought to `target` (-1: the beginning).
    fn seeking(target: i64) -> Self {
        State::Seeking {
            target,
            from: target.max(0),
            below: false,
        }
    }
}

/// The read position of every partition this consumer has seen since its last assignment.
#[derive(Debug, Default)]
pub struct Positions {
    partitions: HashMap<i32, State>,
}

impl Positions {
    /// Forgets everything: after a rebalance every partition is looked up again.
    pub fn reset(&mut self) {
        self.partitions.clear();
    }

    /// Records the sink's stored offset (the next offset it expects; `None` when it holds nothing
    /// of this partition).
    pub fn resolve(&mut self, partition: i32, stored_next: Option<i64>) {
        let state = match stored_next {
            Some(next) => State::Expect(next),
            None => State::SeekingStart,
        };
        self.partitions.insert(partition, state);
    }

    /// Records that the consumer was told to seek `partition` to the sink's stored offset (the
    /// beginning when `None`), before any message of it arrived.
    pub fn sought(&mut self, partition: i32, stored_next: Option<i64>) {
        self.partitions
            .insert(partition, State::seeking(stored_next.unwrap_or(-1)));
    }

    /// True once the partition's position is known (looked up or sought).
    pub fn is_known(&self, partition: i32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// Decides about a message at `offset` of `partition`; an accepted message moves the position.
    pub fn admit(&mut self, partition: i32, offset: i64) -> Admission {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return Admission::Lookup;
        };
        let (admission, next) = match *state {
            State::Expect(next) if offset == next => (Admission::Accept, State::Ready(offset + 1)),
            State::Expect(next) => (Admission::Seek(Offset::Offset(next)), State::seeking(next)),
            State::SeekingStart => {
                // A sink with nothing stored must read from the start, whatever Kafka's committed
                // offset says; a first message we did not seek for is dropped.
                *state = State::seeking(-1);
                return Admission::Seek(Offset::Beginning);
            }
            State::Seeking { target, from, .. } if offset < target => (
                Admission::Skip,
                State::Seeking {
                    target,
                    from,
                    below: true,
                },
            ),
            State::Seeking { target, from, below } if target >= 0 && offset > target => {
                if below || from == 0 {
                    tracing::warn!(
                        partition,
                        expected = target,
                        offset,
                        "offsets are missing from Kafka (deleted by retention?): reading on from the first one there"
                    );
                    (Admission::Accept, State::Ready(offset + 1))
                } else {
                    // Twice as far back each time, so a batch of any size is reached in a few seeks.
                    let back = (2 * (target - from)).max(1);
                    let from = (target - back).max(0);
                    tracing::info!(
                        partition,
                        expected = target,
                        offset,
                        from,
                        "the broker answered from past the position: seeking back to read it from below"
                    );
                    (
                        Admission::Seek(Offset::Offset(from)),
                        State::Seeking {
                            target,
                            from,
                            below: false,
                        },
                    )
                }
            }
            State::Seeking { .. } => (Admission::Accept, State::Ready(offset + 1)),
            State::Ready(next) if offset < next => (Admission::Skip, State::Ready(next)),
            State::Ready(_) => (Admission::Accept, State::Ready(offset + 1)),
        };
        *state = next;
        admission
    }

    /// The offset of the next message the partition will accept, when known: every message
    /// below it is in the sink or in the current batch. `None` before a lookup, and while reading
    /// from the beginning of a partition until its first message arrives.
    pub fn next(&self, partition: i32) -> Option<i64> {
        match self.partitions.get(&partition)? {
            State::Expect(next) | State::Ready(next) => Some(*next),
            State::Seeking { target, .. } if *target >= 0 => Some(*target),
            State::Seeking { .. } | State::SeekingStart => None,
        }
    }

    /// Forgets one partition, e.g. after a failed seek, so that it is looked up again.
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_partition_needs_a_lookup() {
        let mut positions = Positions::default();
        assert_eq!(positions.admit(0, 5), Admission::Lookup);
    }

    #[test]
    fn in_step_messages_are_accepted_in_order() {
        let mut positions = Positions::default();
        positions.resolve(0, Some(5));
        assert_eq!(positions.admit(0, 5), Admission::Accept);
        assert_eq!(positions.admit(0, 6), Admission::Accept);
    }

    #[test]
    fn a_first_message_away_from_the_stored_offset_causes_a_seek() {
        let mut positions = Positions::default();
        positions.resolve(0, Some(5));
        assert_eq!(positions.admit(0, 2), Admission::Seek(Offset::Offset(5)));
        assert_eq!(
            positions.admit(0, 3),
            Admission::Skip,
            "a stale fetch from before the seek"
        );
        assert_eq!(positions.admit(0, 5), Admission::Accept);
        assert_eq!(positions.admit(0, 6), Admission::Accept);
    }

    #[test]
    fn a_first_message_ahead_of_the_stored_offset_seeks_back() {
        let mut positions = Positions::default();
        positions.resolve(1, Some(5));
        assert_eq!(positions.admit(1, 9), Admission::Seek(Offset::Offset(5)));
    }

    #[test]
    fn a_sink_with_nothing_stored_reads_from_the_beginning() {
        let mut positions = Positions::default();
        positions.resolve(0, None);
        assert_eq!(positions.admit(0, 40), Admission::Seek(Offset::Beginning));
        assert_eq!(positions.admit(0, 0), Admission::Accept);
        assert_eq!(positions.admit(0, 1), Admission::Accept);
    }

    #[test]
    fn redeliveries_below_the_position_are_skipped() {
        let mut positions = Positions::default();
        positions.resolve(0, Some(0));
        assert_eq!(positions.admit(0, 0), Admission::Accept);
        assert_eq!(positions.admit(0, 1), Admission::Accept);
        assert_eq!(positions.admit(0, 1), Admission::Skip);
        assert_eq!(positions.admit(0, 0), Admission::Skip);
        assert_eq!(positions.admit(0, 2), Admission::Accept);
    }

    #[test]
    fn offsets_deleted_by_retention_are_passed_over_once_nothing_earlier_is_there() {
        let mut positions = Positions::default();
        positions.resolve(0, Some(5));
        assert_eq!(positions.admit(0, 100), Admission::Seek(Offset::Offset(5)));
        // The log starts at 100: every seek below it is answered from 100.
        for from in [4, 3, 1, 0] {
            assert_eq!(positions.admit(0, 100), Admission::Seek(Offset::Offset(from)));
        }
        assert_eq!(positions.admit(0, 100), Admission::Accept);
        assert_eq!(positions.next(0), Some(101));
    }

    #[test]
    fn a_fetch_answered_from_the_next_batch_seeks_back_until_the_position_is_read() {
        // A fetch from inside a record batch answered from the next batch (DESIGN.md §6).
        let mut positions = Positions::default();
        positions.sought(0, Some(65_043));
        assert_eq!(
            positions.admit(0, 65_045),
            Admission::Seek(Offset::Offset(65_042))
        );
        assert_eq!(positions.admit(0, 65_042), Admission::Skip);
        assert_eq!(positions.admit(0, 65_043), Admission::Accept);
        assert_eq!(positions.admit(0, 65_044), Admission::Accept);
        // Twice as far back each time, while the answer still starts past the position.
        positions.sought(1, Some(100));
        assert_eq!(positions.admit(1, 110), Admission::Seek(Offset::Offset(99)));
        assert_eq!(positions.admit(1, 110), Admission::Seek(Offset::Offset(98)));
        assert_eq!(positions.admit(1, 110), Admission::Seek(Offset::Offset(96)));
        assert_eq!(positions.admit(1, 96), Admission::Skip);
        assert_eq!(positions.admit(1, 100), Admission::Accept);
    }

    #[test]
    fn a_gap_read_from_below_is_real_and_passed_over() {
        let mut positions = Positions::default();
        positions.sought(0, Some(10));
        assert_eq!(positions.admit(0, 12), Admission::Seek(Offset::Offset(9)));
        assert_eq!(positions.admit(0, 9), Admission::Skip);
        assert_eq!(
            positions.admit(0, 12),
            Admission::Accept,
            "10 and 11 are not in the log"
        );
        assert_eq!(positions.next(0), Some(13));
    }

    #[test]
    fn a_partition_sought_on_assignment_skips_stale_messages_and_accepts_from_the_target() {
        let mut positions = Positions::default();
        assert!(!positions.is_known(0));
        positions.sought(1, Some(10));
        assert!(positions.is_known(1));
        assert_eq!(positions.admit(1, 4), Admission::Skip);
        assert_eq!(positions.admit(1, 10), Admission::Accept);
        positions.sought(2, None);
        assert_eq!(positions.admit(2, 0), Admission::Accept);
        positions.sought(3, Some(0));
        assert_eq!(
            positions.admit(3, 30),
            Admission::Accept,
            "0..30 are gone from Kafka"
        );
    }

    #[test]
    fn the_next_offset_is_known_once_the_position_is() {
        let mut positions = Positions::default();
        assert_eq!(positions.next(0), None);
        positions.sought(0, Some(7));
        assert_eq!(
            positions.next(0),
            Some(7),
            "nothing below the stored offset is read"
        );
        assert_eq!(positions.admit(0, 7), Admission::Accept);
        assert_eq!(positions.next(0), Some(8));
        positions.sought(1, None);
        assert_eq!(
            positions.next(1),
            None,
            "from the beginning: unknown until a message arrives"
        );
        assert_eq!(positions.admit(1, 3), Admission::Accept);
        assert_eq!(positions.next(1), Some(4));
    }

    #[test]
    fn partitions_are_independent() {
        let mut positions = Positions::default();
        positions.resolve(0, Some(3));
        assert_eq!(positions.admit(0, 3), Admission::Accept);
        assert_eq!(positions.admit(1, 3), Admission::Lookup);
    }

    #[test]
    fn reset_and_forget_require_a_new_lookup() {
        let mut positions = Positions::default();
        positions.resolve(0, Some(0));
        positions.resolve(1, Some(0));
        positions.forget(1);
        assert_eq!(positions.admit(0, 0), Admission::Accept);
        assert_eq!(positions.admit(1, 0), Admission::Lookup);
        positions.reset();
        assert_eq!(positions.admit(0, 1), Admission::Lookup);
    }
}
