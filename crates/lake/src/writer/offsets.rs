//! The group's stored offsets (the `txn` versions, DESIGN.md §8.2) as of the table version the
//! writer has read up to. A partition's offset is looked up in the log once; after that it is
//! kept current from the commits the writer makes and the ones it reads, instead of a replay of
//! the log for every partition of every commit.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::DeltaTable;

use crate::error::LakeError;
use crate::table::log::LogEntry;

/// What the writer knows of one topic's stored offsets.
#[derive(Debug)]
pub(crate) struct Offsets {
    group: String,
    topic: String,
    /// Partition → the last offset stored (`None`: nothing stored), as of the followed version.
    known: BTreeMap<i32, Option<i64>>,
}

impl Offsets {
    pub(crate) fn new(group: &str) -> Self {
        Self {
            group: group.into(),
            topic: String::new(),
            known: BTreeMap::new(),
        }
    }

    /// The `txn` app id of a partition.
    pub(crate) fn app_id(&self, topic: &str, partition: i32) -> String {
        format!("{}-{topic}-{partition}", self.group)
    }

    /// Switches to `topic` (a writer serves one; the tooling may name another), forgetting what
    /// was known of the previous one.
    fn for_topic(&mut self, topic: &str) {
        if self.topic != topic {
            self.topic = topic.into();
            self.known.clear();
        }
    }

    /// True when the last offset stored for `partition` is known without a look at the table.
    pub(crate) fn knows(&self, topic: &str, partition: i32) -> bool {
        self.topic == topic && self.known.contains_key(&partition)
    }

    /// The last offset stored for `partition` in the table as loaded, which must be the version
    /// the offsets follow.
    pub(crate) async fn last(
        &mut self,
        table: &DeltaTable,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, LakeError> {
        self.for_topic(topic);
        if let Some(&known) = self.known.get(&partition) {
            return Ok(known);
        }
        let app_id = self.app_id(topic, partition);
        let last = table
            .snapshot()?
            .transaction_version(table.log_store().as_ref(), app_id)
            .await?;
        self.known.insert(partition, last);
        Ok(last)
    }

    /// The partitions of the topic whose offsets a commit stored.
    pub(crate) fn partitions_in(&self, entry: &LogEntry) -> BTreeSet<i32> {
        let prefix = format!("{}-{}-", self.group, self.topic);
        entry
            .offsets
            .keys()
            .filter_map(|app_id| app_id.strip_prefix(&prefix)?.parse().ok())
            .collect()
    }

    /// Takes in a commit that followed the version known so far.
    pub(crate) fn apply(&mut self, entry: &LogEntry) {
        let prefix = format!("{}-{}-", self.group, self.topic);
        for (app_id, &last) in &entry.offsets {
            if let Some(partition) = app_id.strip_prefix(&prefix).and_then(|p| p.parse().ok()) {
                self.known.insert(partition, Some(last));
            }
        }
    }

    /// Takes in offsets the writer itself just committed.
    pub(crate) fn stored(&mut self, topic: &str, stored: impl IntoIterator<Item = (i32, i64)>) {
        self.for_topic(topic);
        for (partition, last) in stored {
            self.known.insert(partition, Some(last));
        }
    }

    /// Forgets everything (the log between the known version and the latest cannot be read).
    pub(crate) fn forget(&mut self) {
        self.known.clear();
    }
}
