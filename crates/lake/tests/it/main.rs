//! The lake library's integration tests, one binary: real Delta tables in local folders (and on
//! the stack's S3 store where a test says so), written as the delta-writer writes them.

mod browsing;
mod compaction;
mod evolution;
mod log;
mod python_reader;
mod routed;
mod tooling;
mod windows;
mod writer;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use lakehouse_event::EnrichedEvent;
use lakehouse_event::{Batch, Record};
use lakehouse_lake::{AsOf, EventsWriter, LakeLocation, WriterOptions, open_at, query};
use lakehouse_testkit::{reference_event, unique};

/// A lake in a fresh local folder, removed on drop.
#[derive(Debug)]
pub struct TempLake {
    pub location: LakeLocation,
    pub dir: std::path::PathBuf,
}

impl TempLake {
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(prefix));
        let location = LakeLocation::new(dir.display().to_string());
        Self { location, dir }
    }

    pub async fn writer(&self, options: &WriterOptions) -> EventsWriter {
        EventsWriter::open_or_create(&self.location, options)
            .await
            .expect("the lake")
    }

    /// The rows of the table at `at`.
    pub async fn count(&self, at: AsOf) -> i64 {
        let table = open_at(&self.location, &at).await.expect("the table");
        let batches = query(&table, "SELECT count(*) FROM events")
            .await
            .expect("a count");
        batches[0].column(0).as_primitive::<Int64Type>().value(0)
    }

    pub fn version(n: u64) -> AsOf {
        AsOf {
            version: Some(n),
            as_of: None,
        }
    }
}

impl Drop for TempLake {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// `rows` reference events from `first` on, read from partition 0 of topic `t` at their index.
pub fn batch(seed: u64, first: u64, rows: u64) -> Batch {
    let mut batch = Batch::new("t");
    for index in first..first + rows {
        let record = Record {
            event: reference_event(seed, index),
            partition: 0,
            offset: index as i64,
        };
        batch.push(record);
    }
    batch
}

/// Offers `events` (each with the partition and offset it was read at) to `writer` as the
/// consume loop does, and returns the batch that covers them (the writer keeps the records).
pub fn offered(
    writer: &mut EventsWriter,
    events: impl IntoIterator<Item = (i32, i64, EnrichedEvent)>,
) -> Batch {
    let mut batch = Batch::new("t");
    for (partition, offset, event) in events {
        let record = Record {
            event,
            partition,
            offset,
        };
        writer.offer(&record);
        batch.cover(partition, offset);
    }
    batch
}

/// Reference event `index` of `seed`, arrived `age` ago (on the day it arrived, so that all of a
/// test's events land in one partition of the table).
pub fn arrived(seed: u64, index: u64, age: chrono::Duration) -> EnrichedEvent {
    let mut event = reference_event(seed, index);
    event.received_at = chrono::Utc::now() - age;
    event.timestamp = event.received_at;
    event
}

/// The data files of the table's latest version, by path.
pub async fn data_files(location: &LakeLocation) -> Vec<String> {
    let table = open_at(location, &AsOf::default()).await.expect("the table");
    table
        .snapshot()
        .expect("a snapshot")
        .log_data()
        .iter()
        .map(|file| file.path().to_string())
        .collect()
}
