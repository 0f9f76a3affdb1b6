//! The lake browser as a real process (its built binary) while people run heavy SQL on a table of
//! 100 000 rows: more queries than `QUERY_CONCURRENCY`, cross joins that would run for many
//! minutes and a sort far beyond the memory limit. Throughout, `/health` and the overview answer
//! within a second; each cross join is stopped at its timeout and its slot is free again; the
//! sort is refused at the memory limit; queries beyond the slots are refused as busy; and SIGTERM
//! ends the process well within the chart's grace period while queries run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lakehouse_event::{Batch, Record};
use lakehouse_lake::{EventsWriter, LakeLocation, WriterOptions};
use lakehouse_testkit::{reference_event, unique, wait_until};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

const BINARY: &str = env!("CARGO_BIN_EXE_lakehouse-lake-browser");
const ROWS: u64 = 100_000;
const CONCURRENCY: usize = 2;
const TIMEOUT: Duration = Duration::from_secs(5);
const MEMORY_LIMIT_MIB: usize = 32;
/// Every probe is answered within this, however busy the query threads are.
const PROBE_BOUND: Duration = Duration::from_secs(1);
/// The chart's `terminationGracePeriodSeconds`.
const GRACE: Duration = Duration::from_secs(30);
/// 10^10 string concatenations: many minutes on any machine (the reported query).
const CROSS_JOIN: &str = "SELECT sum(length(a.event_id || b.event_id)) FROM events a, events b";
/// 10^10 rows of 72 bytes to sort: far more than the memory limit, and than it may spill.
const SORT: &str = "SELECT a.event_id || b.event_id AS k FROM events a, events b ORDER BY k";
/// The gauge of queries running on the query threads.
const RUNNING: &str = "lakehouse_queries_running";

/// A table of [`ROWS`] rows in a fresh local folder, removed on drop.
struct BigLake {
    dir: std::path::PathBuf,
}

impl BigLake {
    async fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("lake-browser-heavy"));
        let location = LakeLocation::new(dir.display().to_string());
        let mut writer = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
            .await
            .expect("the lake");
        let per_commit = ROWS / 4;
        for first in (0..ROWS).step_by(per_commit as usize) {
            let mut batch = Batch::new("t");
            for index in first..first + per_commit {
                let record = Record {
                    event: reference_event(11, index),
                    partition: 0,
                    offset: index as i64,
                };
                batch.push(record);
            }
            writer.write(&batch).await.expect("a commit");
        }
        Self { dir }
    }
}

impl Drop for BigLake {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The lake browser's process, SIGKILLed if the test ends before it does.
struct BrowserProcess {
    child: Child,
    base: String,
}

impl BrowserProcess {
    async fn start(lake: &BigLake, client: &reqwest::Client) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(BINARY)
            .env_remove("LAKE_BROWSER_TOKEN")
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("LAKE_URI", lake.dir.display().to_string())
            .env("QUERY_CONCURRENCY", CONCURRENCY.to_string())
            .env("QUERY_TIMEOUT_SECS", TIMEOUT.as_secs().to_string())
            .env("QUERY_MEMORY_LIMIT_MIB", MEMORY_LIMIT_MIB.to_string())
            .env("LOG_FORMAT", "pretty")
            .env(
                "RUST_LOG",
                std::env::var("CHILD_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("{BINARY} starts: {error}"));
        let base = format!("http://127.0.0.1:{port}");
        wait_until(
            "the lake browser answers /health",
            Duration::from_secs(30),
            || async {
                match client.get(format!("{base}/health")).send().await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(response.status().to_string()),
                    Err(error) => Err(error.to_string()),
                }
            },
        )
        .await;
        Self { child, base }
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("a pid").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid}");
    }
}

/// One answer to a probe: the path, its status (`None`: no answer) and how long it took.
#[derive(Debug, Clone)]
struct Probe {
    path: &'static str,
    status: Option<u16>,
    took: Duration,
}

/// Asks for `/health` and the overview every 200 ms, recording each answer and the one awaited.
struct Prober {
    probes: Arc<Mutex<Vec<Probe>>>,
    awaited: Arc<Mutex<Option<(&'static str, Instant)>>>,
    task: JoinHandle<()>,
}

impl Prober {
    fn start(client: reqwest::Client, base: String) -> Self {
        let probes = Arc::new(Mutex::new(Vec::new()));
        let awaited = Arc::new(Mutex::new(None));
        let (record, waiting) = (Arc::clone(&probes), Arc::clone(&awaited));
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(200));
            loop {
                every.tick().await;
                for path in ["/health", "/"] {
                    let started = Instant::now();
                    *waiting.lock().expect("the probe awaited") = Some((path, started));
                    let status = match client.get(format!("{base}{path}")).send().await {
                        // The whole page, not only its head.
                        Ok(response) => {
                            let status = response.status().as_u16();
                            response.bytes().await.ok().map(|_| status)
                        }
                        Err(_) => None,
                    };
                    let probe = Probe {
                        path,
                        status,
                        took: started.elapsed(),
                    };
                    record.lock().expect("the probes").push(probe);
                    *waiting.lock().expect("the probe awaited") = None;
                }
            }
        });
        Self {
            probes,
            awaited,
            task,
        }
    }

    fn count(&self) -> usize {
        self.probes.lock().expect("the probes").len()
    }

    /// Every probe so far was answered with a success within [`PROBE_BOUND`], and the one awaited
    /// is not late yet.
    fn check(&self, while_: &str) {
        let probes = self.probes.lock().expect("the probes").clone();
        check(&probes, while_);
        let awaited = *self.awaited.lock().expect("the probe awaited");
        if let Some((path, since)) = awaited {
            let waited = since.elapsed();
            assert!(
                waited <= PROBE_BOUND,
                "while {while_}, {path} has not been answered after {waited:?} (at most {PROBE_BOUND:?} allowed)"
            );
        }
    }

    /// Stops probing; every probe made.
    fn stop(self) -> Vec<Probe> {
        self.task.abort();
        self.probes.lock().expect("the probes").clone()
    }
}

/// Each of `probes` was answered with a success within [`PROBE_BOUND`].
fn check(probes: &[Probe], while_: &str) {
    for probe in probes {
        assert!(
            probe.status == Some(200) && probe.took <= PROBE_BOUND,
            "while {while_}, {} was answered {:?} after {:?} (at most {PROBE_BOUND:?} allowed; {} probes)",
            probe.path,
            probe.status,
            probe.took,
            probes.len()
        );
    }
}

/// A query's answer: status (0: none), body (or the error), and how long it took.
async fn sql(client: reqwest::Client, base: String, query: &'static str) -> (u16, String, Duration) {
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let started = Instant::now();
    match client.get(format!("{base}/sql?q={encoded}")).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_else(|error| error.to_string());
            (status, body, started.elapsed())
        }
        Err(error) => (0, error.to_string(), started.elapsed()),
    }
}

fn spawn_sql(
    client: &reqwest::Client,
    base: &str,
    query: &'static str,
) -> JoinHandle<(u16, String, Duration)> {
    tokio::spawn(sql(client.clone(), base.to_string(), query))
}

/// Waits until `n` queries run on the query threads, the probes failing the wait as soon as one
/// is late.
async fn wait_running(client: &reqwest::Client, base: &str, prober: &Prober, n: usize, within: Duration) {
    wait_until(&format!("{n} queries running"), within, || async {
        prober.check(&format!("waiting for {n} queries running"));
        let metrics = client
            .get(format!("{base}/metrics"))
            .timeout(PROBE_BOUND)
            .send()
            .await
            .map_err(|error| error.to_string())?
            .text()
            .await
            .map_err(|error| error.to_string())?;
        let running = metrics
            .lines()
            .find_map(|line| line.strip_prefix(RUNNING)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if running == n as f64 {
            Ok(())
        } else {
            Err(format!("{running} running"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_queries_leave_the_pages_answering_and_sigterm_ends_the_process() {
    let lake = BigLake::new().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    let mut browser = BrowserProcess::start(&lake, &client).await;
    let base = browser.base.clone();
    let prober = Prober::start(client.clone(), base.clone());
    wait_until("the first probes", Duration::from_secs(10), || async {
        if prober.count() >= 2 {
            Ok(())
        } else {
            Err(format!("{} probes", prober.count()))
        }
    })
    .await;

    // Cross joins take every slot ...
    let joins: Vec<_> = (0..CONCURRENCY)
        .map(|_| spawn_sql(&client, &base, CROSS_JOIN))
        .collect();
    wait_running(&client, &base, &prober, CONCURRENCY, Duration::from_secs(10)).await;
    // ... so that more queries, the sort included, are refused at once as busy.
    for query in [CROSS_JOIN, SORT] {
        let (status, body, took) = sql(client.clone(), base.clone(), query).await;
        assert_eq!(status, 503, "{query}: {body}");
        assert!(body.contains("queries are running already"), "{query}: {body}");
        assert!(took < PROBE_BOUND, "{query}: refused after {took:?}");
    }
    // Each cross join is stopped at its timeout ...
    for join in joins {
        let (status, body, took) = join.await.expect("the cross join's request");
        assert_eq!(status, 504, "{body}");
        assert!(
            body.contains(&format!(
                "did not finish within {} s and was stopped",
                TIMEOUT.as_secs()
            )),
            "{body}"
        );
        assert!(
            took >= TIMEOUT && took < TIMEOUT + Duration::from_secs(3),
            "answered after {took:?}, the timeout being {TIMEOUT:?}"
        );
    }
    // ... and really stopped: the slots are free again, where the joins would run for minutes.
    wait_running(&client, &base, &prober, 0, Duration::from_secs(10)).await;
    // The sort, with a slot, is refused at the memory limit.
    let (status, body, took) = sql(client.clone(), base.clone(), SORT).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(&format!("memory limit of {MEMORY_LIMIT_MIB} MiB")),
        "{body}"
    );
    assert!(took < TIMEOUT, "the sort was refused after {took:?}");
    wait_running(&client, &base, &prober, 0, Duration::from_secs(10)).await;

    // SIGTERM while cross joins run: they are answered at once, and the process ends well
    // within the grace period.
    let joins: Vec<_> = (0..CONCURRENCY)
        .map(|_| spawn_sql(&client, &base, CROSS_JOIN))
        .collect();
    wait_running(&client, &base, &prober, CONCURRENCY, Duration::from_secs(10)).await;
    let probes = prober.stop();
    check(&probes, "the queries ran");
    assert!(probes.len() >= 10, "only {} probes", probes.len());
    browser.terminate();
    let exited = tokio::time::timeout(GRACE, browser.child.wait())
        .await
        .unwrap_or_else(|_| panic!("the lake browser did not end within {GRACE:?} of SIGTERM"))
        .expect("its exit status");
    assert!(exited.success(), "the lake browser exited with {exited}");
    for join in joins {
        let (status, body, took) = join.await.expect("the cross join's request");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("shutting down"), "{body}");
        assert!(took < TIMEOUT, "answered after {took:?}, not at SIGTERM");
    }
}
