//! The lake browser's integration tests, one binary: every page and refusal through the router on
//! a real table in a local folder (`pages`), the pages in a real headless Chromium against a
//! table on the stack's S3 store (`headless`), and the built binary kept answering, and stopped
//! by SIGTERM, while heavy queries run (`heavy_queries`).

mod headless;
mod heavy_queries;
mod pages;

use lakehouse_event::{Batch, Record};
use lakehouse_lake::{EventsWriter, LakeLocation, WriterOptions};
use lakehouse_testkit::{reference_event, unique};

/// A title written by a stranger: markup that runs script if a page does not escape it.
pub const HOSTILE_TITLE: &str = "<img src=x onerror=alert(1)>";
/// An event type that would break out of an attribute or start a script.
pub const HOSTILE_TYPE: &str = "\"><script>alert(3)</script>";

/// Rows in versions 1, 2 and 3 of [`write_versions`].
pub const ROWS: [u64; 3] = [100, 150, 180];

/// Writes versions 1 (100 rows), 2 (50 more, one titled [`HOSTILE_TITLE`] and one of type
/// [`HOSTILE_TYPE`]) and 3 (30 more) to the events table at `location`.
pub async fn write_versions(location: &LakeLocation) {
    let mut writer = EventsWriter::open_or_create(location, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    for (first, rows) in [(0, 100), (100, 50), (150, 30)] {
        let mut batch = Batch::new("t");
        for index in first..first + rows {
            let mut event = reference_event(9, index);
            if index == 120 {
                event.title = Some(HOSTILE_TITLE.into());
                event.url = Some("javascript:alert(2)".into());
            }
            if index == 121 {
                event.event_type = HOSTILE_TYPE.into();
            }
            let record = Record {
                event,
                partition: 0,
                offset: index as i64,
            };
            batch.push(record);
        }
        writer.write(&batch).await.expect("a commit");
    }
}

/// A lake in a fresh local folder with [`write_versions`], removed on drop.
#[derive(Debug)]
pub struct LocalLake {
    pub location: LakeLocation,
    pub dir: std::path::PathBuf,
}

impl LocalLake {
    pub async fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("lake-browser"));
        let location = LakeLocation::new(dir.display().to_string());
        write_versions(&location).await;
        Self { location, dir }
    }
}

impl Drop for LocalLake {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}
