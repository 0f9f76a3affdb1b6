//! Many tables from one topic, exactly once ([`RoutedWriter`], DESIGN.md §8.6). Each record is
//! routed by [`Routing`] as it arrives and kept by its table's own [`EventsWriter`] (encoded into
//! that table's staging, §8.2); at the flush, each table offered records commits them with the
//! batch's offsets as that table's `txn` actions; after every table, one commit of no data to the
//! routing log (`<lake>/_lakehouse/routing`) stores the batch's offsets there: the
//! **watermark**, below which every table holds every event routed to it.
//!
//! After a crash between two tables' commits, the consumer resumes from the watermark (the lowest
//! offset any table may still need), and each table skips what its own `txn` says it holds: the
//! table that committed takes nothing twice, the one that did not takes what it lacks. A table
//! that gets nothing in a batch is not committed (200 quiet tables write no tiny commits); it
//! lacks nothing below the watermark, since every batch that had rows for it wrote it.
//!
//! Tables are opened on their first event (created with the same schema, partitioning and
//! properties), given the partitions the consumer holds, and released after [`IDLE`] without a
//! write, so that the writer's memory does not grow with the number of tables it ever wrote.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use lakehouse_event::{Batch, Record};

use crate::error::LakeError;
use crate::table::location::LakeLocation;
use crate::table::routing::{Routing, TablePath};
use crate::writer::{EventsWriter, Stage, WriterOptions};

/// A table not written for this long is released (reopened at its next event).
pub const IDLE: Duration = Duration::from_secs(300);

/// Where the watermark is: a table of no rows whose log holds the routed writer's offsets.
const ROUTING_LOG: &str = "_lakehouse/routing";

/// Called after each table's commit of a batch (the crash tests abort there).
type Hook = std::sync::Arc<dyn Fn(Stage) + Send + Sync>;

/// A table the writer holds open.
struct Open {
    writer: EventsWriter,
    written: Instant,
    /// What the table holds of the batch being written (0 when it was offered nothing).
    held_bytes: usize,
}

/// The lake's tables as one sink: see the module's documentation.
pub struct RoutedWriter {
    lake: LakeLocation,
    routing: Routing,
    options: WriterOptions,
    tables: HashMap<TablePath, Open>,
    /// The tables offered records of the batch being written.
    offered: BTreeSet<TablePath>,
    /// What every table holds of the batch being written: the sum of their `held_bytes`.
    held_bytes: usize,
    /// The routing log: only offsets.
    watermark: EventsWriter,
    /// The topic and partitions the consumer holds, given to each table as it is opened.
    assigned: Option<(String, BTreeSet<i32>)>,
    hook: Option<Hook>,
}

impl std::fmt::Debug for RoutedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedWriter")
            .field("routing", &self.routing.to_string())
            .field("open_tables", &self.tables.len())
            .finish_non_exhaustive()
    }
}

impl RoutedWriter {
    /// Opens the routing log under `lake` (creating it when absent); tables are opened as events
    /// reach them.
    pub async fn open(
        lake: &LakeLocation,
        routing: Routing,
        options: &WriterOptions,
    ) -> Result<Self, LakeError> {
        let log = LakeLocation {
            uri: format!("{}/{ROUTING_LOG}", lake.uri.trim_end_matches('/')),
            ..lake.clone()
        };
        let watermark = EventsWriter::open_or_create(&log, options).await?;
        Ok(Self {
            lake: lake.clone(),
            routing,
            options: options.clone(),
            tables: HashMap::new(),
            offered: BTreeSet::new(),
            held_bytes: 0,
            watermark,
            assigned: None,
            hook: None,
        })
    }

    /// Calls `hook` at each stage of every table's commit and of the watermark's (the
    /// exactly-once tests abort the process there: the n-th `AfterCommit` of a batch that spans
    /// tables falls between two of them).
    pub fn with_hook(mut self, hook: impl Fn(Stage) + Send + Sync + 'static) -> Self {
        let hook: Hook = std::sync::Arc::new(hook);
        let shared = hook.clone();
        self.watermark = self.watermark.with_hook(move |stage| shared(stage));
        self.hook = Some(hook);
        self
    }

    /// The offset of the next message the lake expects from `partition`: the watermark.
    pub async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LakeError> {
        for open in self.tables.values_mut() {
            // Loads the partition's deduplication window in each open table.
            open.writer.stored_offset(topic, partition).await?;
        }
        self.watermark.stored_offset(topic, partition).await
    }

    /// The partitions the consumer holds now: each open table loads their windows, and each
    /// table opened later gets them when it opens.
    pub async fn assigned(&mut self, topic: &str, partitions: &BTreeSet<i32>) -> Result<(), LakeError> {
        if partitions.is_empty() {
            return Ok(());
        }
        self.assigned = Some((topic.to_string(), partitions.clone()));
        for open in self.tables.values_mut() {
            open.writer.assigned(topic, partitions).await?;
        }
        Ok(())
    }

    /// Routes `record` to its table (opened, or created, on its first event) and keeps it there;
    /// what every table holds of the batch now. `None` when its table cannot be opened now: the
    /// batch then holds the record, and [`Self::write`] routes it (retrying the table's store
    /// through the loop's backoff).
    pub async fn offer(&mut self, record: &Record) -> Option<usize> {
        let path = self.routing.table_of(&record.event);
        let open = match self.table(&path).await {
            Ok(open) => open,
            Err(error) => {
                tracing::warn!(%error, table = %path, partition = record.partition, offset = record.offset,
                    "cannot open a lake table now; the batch holds the record until its flush");
                return None;
            }
        };
        let held = open.writer.offer(record);
        let before = std::mem::replace(&mut open.held_bytes, held);
        self.held_bytes = self.held_bytes - before + held;
        self.offered.insert(path);
        Some(self.held_bytes)
    }

    /// Writes every table offered records of the batch (and routes those the batch holds itself),
    /// then the watermark. A failure leaves the tables committed so far committed: the loop
    /// retries the batch, and those tables find its offsets stored and write nothing twice.
    pub async fn write(&mut self, batch: &Batch) -> Result<(), LakeError> {
        for record in &batch.records {
            let path = self.routing.table_of(&record.event);
            // A record offered again on a retry is a pending id of its table: left out.
            self.table(&path).await?.writer.offer(record);
            self.offered.insert(path);
        }
        // Each table's commit carries every partition of the batch: the table holds all it was
        // routed below them.
        let mut offsets = Batch::new(batch.topic.clone());
        offsets.next_offsets = batch.next_offsets.clone();
        for path in self.offered.clone() {
            let open = self.table(&path).await?;
            open.writer.write(&offsets).await?;
            open.written = Instant::now();
            open.held_bytes = 0;
            tracing::debug!(table = %path, "lake table written");
        }
        self.offered.clear();
        self.held_bytes = 0;
        self.watermark.write(&offsets).await?;
        self.release_idle();
        Ok(())
    }

    /// Drops what the batch being written holds in every table.
    pub fn discard(&mut self) {
        for open in self.tables.values_mut() {
            open.writer.discard();
            open.held_bytes = 0;
        }
        self.offered.clear();
        self.held_bytes = 0;
    }

    /// How many tables the writer holds open.
    pub fn open_tables(&self) -> usize {
        self.tables.len()
    }

    /// The table at `path`, opened (or created) and given the consumer's partitions if it was
    /// not open.
    async fn table(&mut self, path: &TablePath) -> Result<&mut Open, LakeError> {
        if !self.tables.contains_key(path) {
            let location = path.location(&self.lake);
            let mut writer = EventsWriter::open_or_create(&location, &self.options).await?;
            if let Some(hook) = &self.hook {
                let hook = hook.clone();
                writer = writer.with_hook(move |stage| hook(stage));
            }
            if let Some((topic, partitions)) = &self.assigned {
                writer.assigned(topic, partitions).await?;
            }
            tracing::info!(table = %path, open = self.tables.len() + 1, "lake table opened");
            self.tables.insert(
                path.clone(),
                Open {
                    writer,
                    written: Instant::now(),
                    held_bytes: 0,
                },
            );
        }
        Ok(self.tables.get_mut(path).expect("opened above"))
    }

    /// Releases the tables not written for [`IDLE`].
    fn release_idle(&mut self) {
        let before = self.tables.len();
        self.tables.retain(|_, open| open.written.elapsed() < IDLE);
        if self.tables.len() < before {
            tracing::info!(
                released = before - self.tables.len(),
                open = self.tables.len(),
                "idle lake tables released"
            );
        }
    }
}
