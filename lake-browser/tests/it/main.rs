//! The lake browser's integration tests, one binary: every page and refusal through the router on
//! a real table in a local folder (`pages`), the pages in a real headless Chromium against a
//! table on the stack's S3 store (`headless`), and the built binary kept answering, and stopped
//! by SIGTERM, while heavy queries run (`heavy_queries`); and a lake of several routed tables,
//! each page on each, through the router and in Chromium (`routed_tables`).

mod headless;
mod heavy_queries;
mod pages;
mod routed_tables;

use clap::Parser;
use lakehouse_event::{Batch, Record};
use lakehouse_lake::{EventsWriter, LakeLocation, RoutedWriter, Routing, WriterOptions};
use lakehouse_lake_browser::BrowserConfig;
use lakehouse_testkit::{Stack, reference_event, unique};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The lake browser serving, in this process, a lake of the stack's S3 store, until [`Served::stop`].
#[derive(Debug)]
pub struct Served {
    /// `http://<address>` of the browser.
    pub base: String,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Served {
    /// Serves the lake `name` on the stack's S3 store on a free port, once `fill` has written it.
    pub async fn s3_lake<F: AsyncFnOnce(&LakeLocation)>(stack: &Stack, name: &str, fill: F) -> Self {
        let mut args = vec![
            "lakehouse-lake-browser".to_string(),
            format!("--lake-uri={}", stack.s3_lake_uri(name)),
            "--log-format=pretty".into(),
        ];
        args.extend(stack.aws_flags());
        let config = BrowserConfig::parse_from(args);
        fill(&config.location()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(lakehouse_lake_browser::serve(config, listener, shutdown.clone()));
        Self {
            base,
            shutdown,
            server,
        }
    }

    /// Stops the server and expects a clean stop.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server
            .await
            .expect("the server task")
            .expect("the server stops cleanly");
    }
}

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

/// The tables [`write_routed`] writes: each table's name (as the `table` parameter takes it),
/// its latest version and its rows then.
pub const ROUTED: [(&str, u64, u64); 4] = [
    ("events", 3, 180),
    ("projects/a/../b", 2, 8),
    ("projects/docs", 1, 12),
    ("projects/shop", 2, 30),
];

/// A lake of four tables: `<lake>/events` as [`write_versions`] writes it, and three projects'
/// tables (`LAKE_TABLES=project`), one of them a project id that would climb folders if it were
/// not encoded: shop gets 20 then 10 events, docs 12 at once, `a/../b` 5 then 3 ([`ROUTED`]).
pub async fn write_routed(location: &LakeLocation) {
    write_versions(location).await;
    let mut writer = RoutedWriter::open(location, Routing::Project, &WriterOptions::new("g"))
        .await
        .expect("the routing log");
    let mut offset = 0;
    for batch_of in [
        [("shop", 20), ("docs", 12), ("a/../b", 5)].as_slice(),
        [("shop", 10), ("a/../b", 3)].as_slice(),
    ] {
        let mut batch = Batch::new("t");
        for (project, events) in batch_of {
            for _ in 0..*events {
                let mut event = reference_event(21, offset);
                event.project_id = (*project).into();
                batch.push(Record {
                    event,
                    partition: 0,
                    offset: offset as i64,
                });
                offset += 1;
            }
        }
        writer.write(&batch).await.expect("a routed batch");
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

impl LocalLake {
    /// A lake in a fresh local folder with [`write_routed`].
    pub async fn routed() -> Self {
        let dir = std::env::temp_dir().join(unique("lake-browser-routed"));
        let location = LakeLocation::new(dir.display().to_string());
        write_routed(&location).await;
        Self { location, dir }
    }
}

impl Drop for LocalLake {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}
