//! Deduplication of `event_id` within a window, per Kafka partition. A client retry keeps its
//! Kafka key (`project_id:session_id`), so it lands in the same partition as the original: each
//! partition's recent ids are enough, and they move with the partition. The ids of a partition
//! are loaded from the table when the partition is assigned, so a restart or a rebalance keeps
//! the window.
//!
//! Memory bound: about 64 bytes per remembered id (the set entry and the expiry queue entry);
//! `max_ids` caps the total across partitions (default 4 million ≈ 256 MiB). Past the cap the
//! oldest ids are forgotten first, which shortens the window under extreme load; that is logged.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// The window when none is given, in hours.
pub const DEDUP_WINDOW_HOURS: u32 = 24;

/// How many ids are remembered at most when no cap is given (about 256 MiB).
pub const DEDUP_MAX_IDS: usize = 4_000_000;

/// How long, and how many, `event_id`s the writer remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupOptions {
    /// An `event_id` received within this long before the newest row is not written again.
    pub window: Duration,
    /// Past this many ids across partitions, the oldest are forgotten before the window ends.
    pub max_ids: usize,
}

impl Default for DedupOptions {
    fn default() -> Self {
        Self {
            window: Duration::hours(i64::from(DEDUP_WINDOW_HOURS)),
            max_ids: DEDUP_MAX_IDS,
        }
    }
}

/// One partition's remembered ids, oldest first in `order`.
#[derive(Debug, Default)]
struct Seen {
    ids: HashSet<Uuid>,
    order: VecDeque<(DateTime<Utc>, Uuid)>,
}

/// The recent `event_id`s of each loaded partition.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    max_ids: usize,
    partitions: HashMap<i32, Seen>,
    total: usize,
    warned: bool,
}

impl From<DedupOptions> for Dedup {
    fn from(options: DedupOptions) -> Self {
        Self::new(options.window, options.max_ids)
    }
}

impl Dedup {
    pub fn new(window: Duration, max_ids: usize) -> Self {
        Self {
            window,
            max_ids,
            partitions: HashMap::new(),
            total: 0,
            warned: false,
        }
    }

    /// The window: ids received longer ago than this before `now` are no longer remembered.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Replaces what is remembered of `partition` with `ids` (as read from the table).
    pub fn load(&mut self, partition: i32, mut ids: Vec<(DateTime<Utc>, Uuid)>) {
        self.forget(partition);
        ids.sort();
        let seen = self.partitions.entry(partition).or_default();
        for (received_at, id) in ids {
            if seen.ids.insert(id) {
                seen.order.push_back((received_at, id));
                self.total += 1;
            }
        }
        self.enforce_cap();
    }

    /// Forgets a partition (it was revoked, or is about to be reloaded).
    pub fn forget(&mut self, partition: i32) {
        if let Some(seen) = self.partitions.remove(&partition) {
            self.total -= seen.ids.len();
        }
    }

    /// True when `id` was written to `partition` within the window.
    pub fn contains(&self, partition: i32, id: &Uuid) -> bool {
        self.partitions
            .get(&partition)
            .is_some_and(|seen| seen.ids.contains(id))
    }

    /// Remembers ids that were just committed, then drops those older than the window before
    /// `now`.
    pub fn remember(
        &mut self,
        partition: i32,
        ids: impl IntoIterator<Item = (DateTime<Utc>, Uuid)>,
        now: DateTime<Utc>,
    ) {
        let seen = self.partitions.entry(partition).or_default();
        for (received_at, id) in ids {
            if seen.ids.insert(id) {
                seen.order.push_back((received_at, id));
                self.total += 1;
            }
        }
        let cutoff = now - self.window;
        for seen in self.partitions.values_mut() {
            while seen.order.front().is_some_and(|(at, _)| *at < cutoff) {
                if let Some((_, id)) = seen.order.pop_front() {
                    seen.ids.remove(&id);
                    self.total -= 1;
                }
            }
        }
        self.enforce_cap();
    }

    /// How many ids are remembered across partitions.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.total
    }

    fn enforce_cap(&mut self) {
        while self.total > self.max_ids {
            // The partition whose oldest id is the oldest overall gives it up.
            let oldest = self
                .partitions
                .iter()
                .filter_map(|(p, seen)| seen.order.front().map(|(at, _)| (*at, *p)))
                .min();
            let Some((_, partition)) = oldest else { break };
            if let Some(seen) = self.partitions.get_mut(&partition)
                && let Some((_, id)) = seen.order.pop_front()
            {
                seen.ids.remove(&id);
                self.total -= 1;
            }
            if !self.warned {
                self.warned = true;
                tracing::warn!(
                    max_ids = self.max_ids,
                    "deduplication memory cap reached: the oldest ids are forgotten before the window ends (raise DEDUP_MAX_IDS)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes)
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn remembered_ids_are_found_in_their_partition_only() {
        let mut dedup = Dedup::new(Duration::hours(24), 100);
        dedup.remember(0, [(at(0), id(1))], at(0));
        assert!(dedup.contains(0, &id(1)));
        assert!(!dedup.contains(1, &id(1)));
        assert!(!dedup.contains(0, &id(2)));
    }

    #[test]
    fn ids_older_than_the_window_are_forgotten() {
        let mut dedup = Dedup::new(Duration::minutes(60), 100);
        dedup.remember(0, [(at(0), id(1)), (at(30), id(2))], at(30));
        dedup.remember(0, [(at(61), id(3))], at(61));
        assert!(!dedup.contains(0, &id(1)), "61 minutes old");
        assert!(dedup.contains(0, &id(2)));
        assert_eq!(dedup.len(), 2);
    }

    #[test]
    fn the_cap_forgets_the_oldest_ids_first() {
        let mut dedup = Dedup::new(Duration::hours(24), 3);
        dedup.remember(0, [(at(1), id(1)), (at(3), id(3))], at(3));
        dedup.remember(1, [(at(2), id(2)), (at(4), id(4))], at(4));
        assert_eq!(dedup.len(), 3);
        assert!(!dedup.contains(0, &id(1)), "the oldest overall");
        assert!(dedup.contains(1, &id(2)) && dedup.contains(0, &id(3)) && dedup.contains(1, &id(4)));
    }

    #[test]
    fn loading_a_partition_replaces_what_was_remembered() {
        let mut dedup = Dedup::new(Duration::hours(24), 100);
        dedup.remember(0, [(at(0), id(1))], at(0));
        dedup.load(0, vec![(at(5), id(7)), (at(4), id(8))]);
        assert!(!dedup.contains(0, &id(1)));
        assert!(dedup.contains(0, &id(7)) && dedup.contains(0, &id(8)));
        assert_eq!(dedup.len(), 2);
        dedup.forget(0);
        assert_eq!(dedup.len(), 0);
    }
}
