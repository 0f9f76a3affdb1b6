//! Deduplication of `event_id` within a window, per Kafka partition. A client retry keeps its
//! Kafka key (`project_id:session_id`), so it lands in the same partition as the original: each
//! partition's recent ids are enough, and they move with the partition (DESIGN.md §8.4).
//!
//! Each partition's window keeps its ids in buckets of arrival time (a 64th of the window each),
//! so that a whole bucket is forgotten once every id in it is older than the window before the
//! newest arrival, whatever order events arrived in. An id is never forgotten within the window
//! (unless the cap below says so), and at most a bucket's span after it.
//!
//! Memory: an id is 16 bytes in a chunk of 256 ids of its bucket, plus a 4-byte slot (an 8-bit
//! tag of its hash and where it is) in an open-addressing index kept between half and three
//! quarters full: at most **24 bytes per id** (a partition holding fewer than 768 ids has a 4 KiB
//! index at least), plus the unfilled rest of each bucket's last chunk (at most 4 KiB per bucket,
//! 65 buckets per partition). `max_ids` caps the ids across partitions (`DEDUP_MAX_IDS`, 4
//! million by default: at most 96 MiB): past it the oldest ids are forgotten first, which
//! shortens the window under extreme load, with a WARN. The ids of the batch being written count
//! towards the cap once it commits.
//!
//! The ids of the batch being written are remembered as it arrives (so that a retry within the
//! batch is left out too), marked pending: a batch dropped uncommitted takes them back.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// The window when none is given, in hours.
pub const DEDUP_WINDOW_HOURS: u32 = 24;

/// How many ids are remembered at most when no cap is given (at most 96 MiB).
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

/// Buckets of arrival time per window.
const BUCKETS: i64 = 64;
/// Ids per chunk.
const CHUNK: usize = 256;
/// Chunks a partition can address (the index's slots hold 16 bits of chunk number, and
/// `u16::MAX` marks an empty slot).
const MAX_CHUNKS: usize = u16::MAX as usize;
/// The ids one partition can hold: past them its oldest are forgotten, as past the cap.
const MAX_IDS_PER_PARTITION: usize = MAX_CHUNKS * CHUNK;
/// An empty index slot.
const EMPTY: u32 = u32::MAX;
/// The smallest index: below 768 ids it is less than half full.
const MIN_SLOTS: usize = 1024;

/// Where an id lives: its chunk and its place in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Locator {
    chunk: u16,
    offset: u8,
}

impl Locator {
    fn slot(self, tag: u8) -> u32 {
        (u32::from(tag) << 24) | (u32::from(self.chunk) << 8) | u32::from(self.offset)
    }

    fn of_slot(slot: u32) -> Self {
        Self {
            chunk: (slot >> 8) as u16,
            offset: slot as u8,
        }
    }
}

/// The ids that arrived within one bucket of time, in arrival order: positions `head..len` of
/// its chunks are live (the ones before `head` were forgotten by the cap).
#[derive(Debug, Default)]
struct Bucket {
    chunks: Vec<u16>,
    head: usize,
    len: usize,
    /// The earliest arrival in the bucket (seconds), which the cap compares buckets by.
    earliest: i64,
}

impl Bucket {
    fn live(&self) -> usize {
        self.len - self.head
    }

    fn at(&self, position: usize) -> Locator {
        Locator {
            chunk: self.chunks[position / CHUNK],
            offset: (position % CHUNK) as u8,
        }
    }
}

/// One partition's window: its ids by bucket, and the index over them.
#[derive(Debug, Default)]
struct Window {
    buckets: BTreeMap<i64, Bucket>,
    chunks: Vec<Option<Vec<u128>>>,
    free: Vec<u16>,
    slots: Vec<u32>,
    len: usize,
}

/// What a hash says about an id: where its search starts, and the tag its slot carries.
#[derive(Debug, Clone, Copy)]
struct Hashed {
    hash: u64,
    tag: u8,
}

impl Hashed {
    fn home(self, slots: usize) -> usize {
        ((u128::from(self.hash) * slots as u128) >> 64) as usize
    }
}

impl Window {
    fn id(&self, at: Locator) -> u128 {
        self.chunks[usize::from(at.chunk)]
            .as_ref()
            .map_or(0, |chunk| chunk[usize::from(at.offset)])
    }

    /// The slot holding `id`.
    fn find(&self, id: u128, hashed: Hashed) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = hashed.home(self.slots.len());
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            if (slot >> 24) as u8 == hashed.tag && self.id(Locator::of_slot(slot)) == id {
                return Some(i);
            }
            i = (i + 1) % self.slots.len();
        }
    }

    fn place(&mut self, slot: u32, hashed: Hashed) {
        let mut i = hashed.home(self.slots.len());
        while self.slots[i] != EMPTY {
            i = (i + 1) % self.slots.len();
        }
        self.slots[i] = slot;
    }

    /// Makes room in the index for one more id: rebuilt at 60 % full when it would pass three
    /// quarters.
    fn reserve_one(&mut self, hasher: &RandomState) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild(self.len + 1, hasher);
        }
    }

    /// Rebuilds the index at 60 % full when removals left it less than half full.
    fn shrink_if_sparse(&mut self, hasher: &RandomState) {
        if self.len * 2 < self.slots.len() && self.slots.len() > MIN_SLOTS {
            self.rebuild(self.len, hasher);
        }
    }

    fn rebuild(&mut self, ids: usize, hasher: &RandomState) {
        let wanted = (ids * 5 / 3).max(MIN_SLOTS);
        let mut live = Vec::with_capacity(self.len);
        for bucket in self.buckets.values() {
            for position in bucket.head..bucket.len {
                let at = bucket.at(position);
                live.push((at, self.id(at)));
            }
        }
        self.slots = vec![EMPTY; wanted];
        for (at, id) in live {
            let hashed = hash(hasher, id);
            self.place(at.slot(hashed.tag), hashed);
        }
    }

    /// Takes the id in slot `i` out of the index, moving later slots of its run back so that
    /// every search still finds them.
    fn remove_slot(&mut self, i: usize, hasher: &RandomState) {
        let slots = self.slots.len();
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) % slots;
            let slot = self.slots[j];
            if slot == EMPTY {
                break;
            }
            let home = hash(hasher, self.id(Locator::of_slot(slot))).home(slots);
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    fn remove(&mut self, id: u128, hasher: &RandomState) {
        if let Some(i) = self.find(id, hash(hasher, id)) {
            self.remove_slot(i, hasher);
        }
    }

    fn new_chunk(&mut self) -> Option<u16> {
        // Grown as ids arrive (doubling, to at most CHUNK): a writer routing to many tables has a
        // bucket per table, partition and 64th of the window, most holding a few ids (§8.6).
        let chunk = Some(Vec::new());
        if let Some(number) = self.free.pop() {
            self.chunks[usize::from(number)] = chunk;
            return Some(number);
        }
        if self.chunks.len() >= MAX_CHUNKS {
            return None;
        }
        self.chunks.push(chunk);
        Some((self.chunks.len() - 1) as u16)
    }

    fn free_chunk(&mut self, number: u16) {
        self.chunks[usize::from(number)] = None;
        self.free.push(number);
    }

    /// Adds an id known to be absent; false when the partition has no chunk left.
    fn push(&mut self, bucket_key: i64, seconds: i64, id: u128, hasher: &RandomState) -> bool {
        self.reserve_one(hasher);
        let needs_chunk = self
            .buckets
            .get(&bucket_key)
            .is_none_or(|bucket| bucket.len.is_multiple_of(CHUNK));
        let new_chunk = if needs_chunk {
            match self.new_chunk() {
                Some(chunk) => Some(chunk),
                None => return false,
            }
        } else {
            None
        };
        let bucket = self.buckets.entry(bucket_key).or_insert_with(|| Bucket {
            earliest: seconds,
            ..Bucket::default()
        });
        bucket.earliest = bucket.earliest.min(seconds);
        bucket.chunks.extend(new_chunk);
        let at = bucket.at(bucket.len);
        bucket.len += 1;
        if let Some(chunk) = self.chunks[usize::from(at.chunk)].as_mut() {
            chunk.push(id);
        }
        self.len += 1;
        let hashed = hash(hasher, id);
        self.place(at.slot(hashed.tag), hashed);
        true
    }

    /// Forgets the newest id of a bucket (a pending id taken back).
    fn pop_newest(&mut self, bucket_key: i64, hasher: &RandomState) {
        let Some(bucket) = self.buckets.get_mut(&bucket_key) else {
            return;
        };
        if bucket.live() == 0 {
            return;
        }
        bucket.len -= 1;
        let at = bucket.at(bucket.len);
        let emptied_chunk = bucket.len.is_multiple_of(CHUNK).then(|| bucket.chunks.pop());
        let gone = bucket.live() == 0;
        let id = self.id(at);
        self.remove(id, hasher);
        if let Some(chunk) = self.chunks[usize::from(at.chunk)].as_mut() {
            chunk.pop();
        }
        if let Some(Some(chunk)) = emptied_chunk {
            self.free_chunk(chunk);
        }
        if gone {
            self.drop_bucket(bucket_key);
        }
        self.shrink_if_sparse(hasher);
    }

    /// Forgets the oldest id of the bucket with the earliest arrival.
    fn pop_oldest(&mut self, hasher: &RandomState) {
        let Some((&key, _)) = self.buckets.iter().min_by_key(|(_, bucket)| bucket.earliest) else {
            return;
        };
        let Some(bucket) = self.buckets.get_mut(&key) else {
            return;
        };
        let at = bucket.at(bucket.head);
        bucket.head += 1;
        let emptied_chunk = bucket
            .head
            .is_multiple_of(CHUNK)
            .then(|| bucket.chunks[bucket.head / CHUNK - 1]);
        let gone = bucket.live() == 0;
        let id = self.id(at);
        self.remove(id, hasher);
        if let Some(chunk) = emptied_chunk {
            self.free_chunk(chunk);
        }
        if gone {
            self.drop_bucket(key);
        }
        self.shrink_if_sparse(hasher);
    }

    /// Forgets every id of a bucket.
    fn expire_bucket(&mut self, key: i64, hasher: &RandomState) {
        let Some(bucket) = self.buckets.get(&key) else {
            return;
        };
        let ids: Vec<u128> = (bucket.head..bucket.len)
            .map(|position| self.id(bucket.at(position)))
            .collect();
        for id in ids {
            self.remove(id, hasher);
        }
        self.drop_bucket(key);
        self.shrink_if_sparse(hasher);
    }

    fn drop_bucket(&mut self, key: i64) {
        if let Some(bucket) = self.buckets.remove(&key) {
            let first_live_chunk = bucket.head / CHUNK;
            let chunks = bucket.chunks.len();
            for number in bucket.chunks.into_iter().take(chunks).skip(first_live_chunk) {
                self.free_chunk(number);
            }
        }
    }
}

fn hash(hasher: &RandomState, id: u128) -> Hashed {
    let hash = hasher.hash_one(id);
    Hashed {
        hash,
        tag: (hash & 0xff) as u8,
    }
}

/// The recent `event_id`s of each loaded partition.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    max_ids: usize,
    bucket_seconds: i64,
    partitions: HashMap<i32, Window>,
    total: usize,
    /// The newest arrival seen (seconds): the window ends there.
    newest: Option<i64>,
    /// The partition and bucket of each id remembered for the batch being written, in order.
    pending: Vec<(i32, i64)>,
    hasher: RandomState,
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
            bucket_seconds: (window.num_seconds() / BUCKETS).max(1),
            partitions: HashMap::new(),
            total: 0,
            newest: None,
            pending: Vec::new(),
            hasher: RandomState::new(),
            warned: false,
        }
    }

    /// The window: ids received longer ago than this before the newest arrival are forgotten.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// True when a window of `partition` is held (loaded, or filled since).
    pub fn holds(&self, partition: i32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// The partitions whose windows are held.
    pub fn partitions(&self) -> Vec<i32> {
        self.partitions.keys().copied().collect()
    }

    /// Replaces what is remembered of `partition` with `ids` (as read from the table).
    pub fn load(&mut self, partition: i32, mut ids: Vec<(DateTime<Utc>, Uuid)>) {
        self.forget(partition);
        self.partitions.entry(partition).or_default();
        ids.sort();
        for (received_at, id) in ids {
            if !self.contains(partition, &id) {
                self.add(partition, received_at, id);
            }
        }
        self.expire(None);
    }

    /// Moves the end of the window to `newest` if that is later (the newest arrival in the
    /// table, when windows are loaded from it), forgetting what falls out.
    pub fn arrived(&mut self, newest: DateTime<Utc>) {
        self.expire(Some(newest));
    }

    /// Forgets a partition (it was revoked, or is about to be reloaded).
    pub fn forget(&mut self, partition: i32) {
        if let Some(window) = self.partitions.remove(&partition) {
            self.total -= window.len;
        }
        self.pending.retain(|&(p, _)| p != partition);
    }

    /// True when `id` was written to `partition` within the window, or is in the batch being
    /// written.
    pub fn contains(&self, partition: i32, id: &Uuid) -> bool {
        let id = id.as_u128();
        self.partitions
            .get(&partition)
            .is_some_and(|window| window.find(id, hash(&self.hasher, id)).is_some())
    }

    /// Remembers an id of the batch being written, unless it is remembered already; false then
    /// (the record is a duplicate).
    pub fn insert_pending(&mut self, partition: i32, received_at: DateTime<Utc>, id: Uuid) -> bool {
        if self.contains(partition, &id) {
            return false;
        }
        self.partitions.entry(partition).or_default();
        if let Some(bucket) = self.add(partition, received_at, id) {
            self.pending.push((partition, bucket));
        }
        true
    }

    /// The memory the pending ids' bookkeeping takes (as allocated; the ids themselves are in
    /// the windows).
    pub fn pending_bytes(&self) -> usize {
        self.pending.capacity() * std::mem::size_of::<(i32, i64)>()
    }

    /// True while ids of a batch being written are remembered.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The batch committed: its ids stay, and what fell out of the window is forgotten.
    pub fn commit_pending(&mut self, newest: Option<DateTime<Utc>>) {
        // Released, not kept for the next batch: it counts towards the batch's bytes.
        self.pending = Vec::new();
        self.expire(newest);
    }

    /// The batch was dropped: its ids are taken back.
    pub fn discard_pending(&mut self) {
        while let Some((partition, bucket)) = self.pending.pop() {
            if let Some(window) = self.partitions.get_mut(&partition) {
                let before = window.len;
                window.pop_newest(bucket, &self.hasher);
                self.total -= before - window.len;
            }
        }
        self.pending = Vec::new();
    }

    /// Remembers ids that were just committed, then forgets those older than the window before
    /// `now` (or before the newest arrival seen, if later).
    pub fn remember(
        &mut self,
        partition: i32,
        ids: impl IntoIterator<Item = (DateTime<Utc>, Uuid)>,
        now: DateTime<Utc>,
    ) {
        self.partitions.entry(partition).or_default();
        for (received_at, id) in ids {
            if !self.contains(partition, &id) {
                self.add(partition, received_at, id);
            }
        }
        self.expire(Some(now));
    }

    /// How many ids are remembered across partitions.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Adds an id known to be absent to a held partition; the bucket it went to, unless the
    /// partition had no room even after forgetting its oldest.
    fn add(&mut self, partition: i32, received_at: DateTime<Utc>, id: Uuid) -> Option<i64> {
        let seconds = received_at.timestamp();
        let bucket = seconds.div_euclid(self.bucket_seconds);
        let window = self.partitions.get_mut(&partition)?;
        let before = window.len;
        let full = window.len >= MAX_IDS_PER_PARTITION;
        if full {
            window.pop_oldest(&self.hasher);
        }
        // Every chunk may be taken by partly filled buckets: then the oldest id makes room.
        let pushed = window.push(bucket, seconds, id.as_u128(), &self.hasher) || {
            window.pop_oldest(&self.hasher);
            window.push(bucket, seconds, id.as_u128(), &self.hasher)
        };
        let after = window.len;
        self.total = self.total - before + after;
        if full {
            self.warn_once();
        }
        pushed.then_some(bucket)
    }

    /// Forgets the buckets wholly older than the window before the newest arrival, then the
    /// oldest ids beyond the cap.
    fn expire(&mut self, now: Option<DateTime<Utc>>) {
        if let Some(now) = now {
            let now = now.timestamp();
            self.newest = Some(self.newest.map_or(now, |newest| newest.max(now)));
        }
        if let Some(newest) = self.newest {
            let cutoff = newest - self.window.num_seconds();
            for window in self.partitions.values_mut() {
                let expired: Vec<i64> = window
                    .buckets
                    .keys()
                    .copied()
                    .take_while(|&key| (key + 1) * self.bucket_seconds <= cutoff)
                    .collect();
                for key in expired {
                    let before = window.len;
                    window.expire_bucket(key, &self.hasher);
                    self.total -= before - window.len;
                }
            }
        }
        self.enforce_cap();
    }

    fn enforce_cap(&mut self) {
        while self.total > self.max_ids {
            // The partition whose oldest bucket began earliest gives up its oldest id.
            let oldest = self
                .partitions
                .iter()
                .filter_map(|(&p, window)| {
                    window
                        .buckets
                        .values()
                        .map(|bucket| bucket.earliest)
                        .min()
                        .map(|at| (at, p))
                })
                .min();
            let Some((_, partition)) = oldest else { break };
            if let Some(window) = self.partitions.get_mut(&partition) {
                let before = window.len;
                window.pop_oldest(&self.hasher);
                self.total -= before - window.len;
            }
            self.warn_once();
        }
    }

    fn warn_once(&mut self) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                max_ids = self.max_ids,
                "deduplication memory cap reached: the oldest ids are forgotten before the window ends (raise DEDUP_MAX_IDS)"
            );
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

    #[test]
    fn out_of_order_arrivals_expire_with_their_bucket_not_behind_newer_ones() {
        let mut dedup = Dedup::new(Duration::minutes(60), 1_000);
        // Arrival order is not time order: a recent id first, then an old one.
        dedup.remember(0, [(at(100), id(1)), (at(0), id(2))], at(100));
        assert!(dedup.contains(0, &id(1)));
        assert!(!dedup.contains(0, &id(2)), "100 minutes older than the newest");
        assert_eq!(dedup.len(), 1);
    }

    #[test]
    fn pending_ids_are_duplicates_within_the_batch_and_are_taken_back_when_it_is_dropped() {
        let mut dedup = Dedup::new(Duration::hours(24), 1_000);
        dedup.remember(0, [(at(0), id(1))], at(0));
        assert!(dedup.insert_pending(0, at(1), id(2)));
        assert!(
            !dedup.insert_pending(0, at(2), id(2)),
            "the retry within the batch"
        );
        assert!(!dedup.insert_pending(0, at(2), id(1)), "written before");
        assert!(dedup.insert_pending(1, at(1), id(2)), "another partition");
        assert!(dedup.pending_bytes() >= 2 * 16, "two pending ids are held");
        dedup.discard_pending();
        assert_eq!(dedup.pending_bytes(), 0, "released with the batch");
        assert!(dedup.contains(0, &id(1)));
        assert!(!dedup.contains(0, &id(2)) && !dedup.contains(1, &id(2)));
        assert_eq!(dedup.len(), 1);

        assert!(dedup.insert_pending(0, at(3), id(3)));
        dedup.commit_pending(Some(at(3)));
        dedup.discard_pending();
        assert!(dedup.contains(0, &id(3)), "committed ids stay");
    }

    #[test]
    fn many_ids_in_and_out_of_the_window_stay_findable_and_cost_at_most_24_bytes_each() {
        let mut dedup = Dedup::new(Duration::hours(1), 10_000_000);
        let ids = 200_000u128;
        for n in 0..ids {
            // A second apart, in a shuffled order within each minute.
            let second = ((n * 7919) % 60 + (n / 60) * 60) as i64;
            let arrived = DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(second);
            assert!(dedup.insert_pending(n as i32 % 3, arrived, id(n)));
        }
        let newest = DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(ids as i64);
        dedup.commit_pending(Some(newest));
        let window = 3_600;
        let mut found = 0;
        for n in 0..ids {
            let second = ((n * 7919) % 60 + (n / 60) * 60) as i64;
            let within = second >= ids as i64 - window;
            let held = dedup.contains(n as i32 % 3, &id(n));
            assert!(held || !within, "id {n} within the window was forgotten");
            found += usize::from(held);
        }
        assert_eq!(found, dedup.len());
        assert!(found <= window as usize + window as usize / 64 + 60, "{found}");
        for (p, window) in &dedup.partitions {
            let chunks: usize = window
                .chunks
                .iter()
                .flatten()
                .map(|chunk| chunk.capacity() * 16)
                .sum();
            let bytes = window.slots.len() * 4 + chunks;
            let slack = window.buckets.len() * CHUNK * 16 + MIN_SLOTS * 4;
            assert!(
                bytes <= window.len * 24 + slack,
                "partition {p}: {bytes} bytes for {} ids",
                window.len
            );
        }
    }
}
