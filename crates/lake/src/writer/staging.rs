//! The batch being written (DESIGN.md §8.2): records encoded into Parquet in memory as they
//! arrive, one file per `event_date`, uploaded when the batch commits. A record becomes a row of
//! a small Arrow chunk, and each full chunk is encoded into its file at once, so a batch is held
//! once, compressed. The encoded files stay until the commit succeeds: an upload or a commit that
//! failed is retried with the same bytes, and a batch another writer partly committed is
//! rewritten without those rows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int32Type, Int64Type};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use deltalake::kernel::Add;
use deltalake::logstore::ObjectStoreRef;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::errors::ParquetError;
use futures::{StreamExt, TryStreamExt};
use lakehouse_event::Record;

use crate::error::LakeError;
use crate::table::encode::{RowsBuilder, add_action, data_file, writer_properties};
use crate::table::file_stats::FileStats;
use crate::table::schema::file_schema;

/// Rows per chunk: each is encoded when full (about half a MiB of the reference workload).
const CHUNK_ROWS: usize = 1024;

/// Files uploaded at once when a batch commits.
const CONCURRENT_UPLOADS: usize = 8;

/// One `event_date`'s file of the batch. (The Parquet writer is not `Sync`; behind a mutex,
/// which `&mut` access never locks, the batch can be held across `.await`s of a shared loop.)
/// The Parquet writer is opened at the first chunk encoded: its column writers take a few hundred
/// KiB before any row, which a routed writer's files of a few rows each must not pay (§8.6).
struct File {
    chunk: RowsBuilder,
    writer: Option<Mutex<ArrowWriter<Vec<u8>>>>,
    stats: FileStats,
    rows: usize,
}

impl File {
    fn new() -> Self {
        Self {
            chunk: RowsBuilder::default(),
            writer: None,
            stats: FileStats::new(file_schema()),
            rows: 0,
        }
    }

    fn writer(&mut self) -> Result<&mut ArrowWriter<Vec<u8>>, ParquetError> {
        if self.writer.is_none() {
            let writer = ArrowWriter::try_new(Vec::new(), file_schema(), Some(writer_properties().build()))?;
            self.writer = Some(Mutex::new(writer));
        }
        let writer = self.writer.as_mut().expect("opened above");
        Ok(writer.get_mut().unwrap_or_else(PoisonError::into_inner))
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        self.stats.add(batch);
        self.writer()?.write(batch)
    }

    fn encode_chunk(&mut self) -> Result<(), LakeError> {
        if self.chunk.len() > 0 {
            let batch = self.chunk.finish()?;
            self.encode(&batch).map_err(deltalake::DeltaTableError::from)?;
        }
        Ok(())
    }

    /// The memory the file holds: encoded bytes, the in-progress row group, and the chunk.
    fn held_bytes(&self) -> usize {
        let encoded = self.writer.as_ref().map_or(0, |writer| {
            let writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
            writer.inner().capacity() + writer.memory_size()
        });
        encoded + self.chunk.bytes()
    }

    fn finish(mut self, date: NaiveDate) -> Result<Finished, LakeError> {
        self.encode_chunk()?;
        self.writer().map_err(deltalake::DeltaTableError::from)?;
        let bytes = self
            .writer
            .expect("opened above")
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .into_inner()
            .map_err(deltalake::DeltaTableError::from)?;
        Ok(Finished::new(date, Bytes::from(bytes), &self.stats))
    }
}

/// A file of the batch, encoded and ready to upload.
#[derive(Debug, Clone)]
struct Finished {
    date: NaiveDate,
    add: Add,
    bytes: Bytes,
}

impl Finished {
    fn new(date: NaiveDate, bytes: Bytes, stats: &FileStats) -> Self {
        let day = date.format("%Y-%m-%d").to_string();
        let data_change = true;
        let add = add_action(data_file(&day), &day, bytes.len(), stats, data_change);
        Self { date, add, bytes }
    }
}

/// The rows of the batch being written and the Kafka offsets they came from.
#[derive(Default)]
pub(crate) struct Staged {
    files: BTreeMap<NaiveDate, File>,
    finished: Vec<Finished>,
    uploaded: bool,
    rows: usize,
    /// The first and last offset of each Kafka partition's rows.
    offsets: BTreeMap<i32, (i64, i64)>,
    newest: Option<DateTime<Utc>>,
    /// What the files held after their last chunk was encoded; the open chunks come on top.
    encoded_bytes: usize,
    chunk_bytes: usize,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("rows", &self.rows)
            .field("files", &(self.files.len() + self.finished.len()))
            .field("held_bytes", &self.held_bytes())
            .finish()
    }
}

impl Staged {
    /// Rows staged.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// The newest arrival among the rows.
    pub(crate) fn newest(&self) -> Option<DateTime<Utc>> {
        self.newest
    }

    /// The dates the rows belong to.
    pub(crate) fn dates(&self) -> Vec<NaiveDate> {
        let mut dates: Vec<NaiveDate> = self.files.keys().copied().collect();
        dates.extend(self.finished.iter().map(|file| file.date));
        dates.sort();
        dates.dedup();
        dates
    }

    /// The memory the batch holds.
    pub(crate) fn held_bytes(&self) -> usize {
        self.encoded_bytes + self.chunk_bytes + self.finished.iter().map(|f| f.bytes.len()).sum::<usize>()
    }

    /// Adds a record as a row of its date's file.
    pub(crate) fn append(&mut self, record: &Record) -> Result<(), LakeError> {
        debug_assert!(self.finished.is_empty(), "rows added to a finished batch");
        let file = match self.files.entry(record.event.event_date()) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => entry.insert(File::new()),
        };
        let before = file.chunk.bytes();
        file.chunk.append(record, Utc::now());
        file.rows += 1;
        self.chunk_bytes = self.chunk_bytes + file.chunk.bytes() - before;
        if file.chunk.len() >= CHUNK_ROWS {
            self.chunk_bytes -= file.chunk.bytes();
            file.encode_chunk()?;
            self.encoded_bytes = self
                .files
                .values()
                .map(|f| f.held_bytes() - f.chunk.bytes())
                .sum();
        }
        self.rows += 1;
        let (partition, offset) = (record.partition, record.offset);
        let range = self.offsets.entry(partition).or_insert((offset, offset));
        range.0 = range.0.min(offset);
        range.1 = range.1.max(offset);
        let received = record.event.received_at;
        self.newest = Some(self.newest.map_or(received, |newest| newest.max(received)));
        Ok(())
    }

    /// True when rows of a partition at or below its committed offset are staged (another
    /// writer committed them meanwhile).
    pub(crate) fn overlaps(&self, committed: &BTreeMap<i32, Option<i64>>) -> bool {
        self.offsets.iter().any(|(partition, &(first, _))| {
            committed
                .get(partition)
                .copied()
                .flatten()
                .is_some_and(|last| first <= last)
        })
    }

    /// Encodes what is left and closes every file; idempotent.
    fn finish(&mut self) -> Result<(), LakeError> {
        let files = std::mem::take(&mut self.files);
        for (date, file) in files {
            self.finished.push(file.finish(date)?);
        }
        self.encoded_bytes = 0;
        self.chunk_bytes = 0;
        Ok(())
    }

    /// Rewrites the files without the rows at or below each partition's committed offset.
    pub(crate) fn drop_committed(&mut self, committed: &BTreeMap<i32, Option<i64>>) -> Result<(), LakeError> {
        self.finish()?;
        let mut kept = Vec::new();
        let mut rows = 0;
        for file in std::mem::take(&mut self.finished) {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file.bytes)
                .map_err(deltalake::DeltaTableError::from)?
                .build()
                .map_err(deltalake::DeltaTableError::from)?;
            let mut rewritten = File::new();
            for batch in reader {
                let batch = batch?;
                let partitions = batch
                    .column_by_name("kafka_partition")
                    .map(|c| c.as_primitive::<Int32Type>().clone());
                let offsets = batch
                    .column_by_name("kafka_offset")
                    .map(|c| c.as_primitive::<Int64Type>().clone());
                let (Some(partitions), Some(offsets)) = (partitions, offsets) else {
                    continue;
                };
                let keep: BooleanArray = partitions
                    .values()
                    .iter()
                    .zip(offsets.values())
                    .map(|(partition, &offset)| {
                        Some(
                            committed
                                .get(partition)
                                .copied()
                                .flatten()
                                .is_none_or(|last| offset > last),
                        )
                    })
                    .collect();
                let batch = filter_record_batch(&batch, &keep)?;
                rewritten.rows += batch.num_rows();
                rewritten
                    .encode(&batch)
                    .map_err(deltalake::DeltaTableError::from)?;
            }
            if rewritten.rows > 0 {
                rows += rewritten.rows;
                kept.push(rewritten.finish(file.date)?);
            }
        }
        self.finished = kept;
        self.rows = rows;
        self.uploaded = false;
        for (partition, range) in &mut self.offsets {
            if let Some(Some(last)) = committed.get(partition) {
                range.0 = range.0.max(last + 1);
            }
        }
        self.offsets.retain(|_, (first, last)| first <= last);
        Ok(())
    }

    /// Encodes what is left, uploads every file to `store` (the table's root) unless done
    /// already, and returns their `add` actions.
    pub(crate) async fn upload(&mut self, store: &ObjectStoreRef) -> Result<Vec<Add>, LakeError> {
        self.finish()?;
        if !self.uploaded {
            let files: Vec<(Path, Bytes)> = self
                .finished
                .iter()
                .map(|file| (Path::from(file.add.path.as_str()), file.bytes.clone()))
                .collect();
            futures::stream::iter(files)
                .map(|(path, bytes)| {
                    let store = Arc::clone(store);
                    async move { store.put(&path, bytes.into()).await }
                })
                .buffer_unordered(CONCURRENT_UPLOADS)
                .try_collect::<Vec<_>>()
                .await
                .map_err(deltalake::DeltaTableError::from)?;
            self.uploaded = true;
        }
        Ok(self.finished.iter().map(|file| file.add.clone()).collect())
    }

    /// Forgets everything (committed, or dropped).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}
