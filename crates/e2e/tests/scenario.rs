//! The reliability scenario (issue 8, DESIGN.md §3): the whole system on the real stack, the three
//! service binaries as child processes, load from the bench generator while faults are injected,
//! then every promise checked at once.
//!
//! Faults, in a cycle, each at a random moment: the stream-processor and the delta-writer killed
//! with SIGKILL and restarted; the broker frozen (SIGSTOP) and resumed; a second processor and
//! writer joining their groups and leaving; PostgreSQL stopped and started; the object store
//! frozen and resumed. The generator behaves as an SDK: a refused request (503, 429, a timeout) is
//! sent again with the same `event_id`s until it is accepted.
//!
//! At the end: every event answered 2xx is in the warehouse and in the lake exactly once, and
//! nothing else is; every derived table equals its recomputation from the raw events; the DLQ is
//! empty; no client IP is in the topic, the warehouse or the lake; no secret is in any log line;
//! and the freshness (2xx to visible) in both stores is reported.
//!
//! The short run is part of `scripts/test`. The long soak is `scripts/soak` (see RELIABILITY.md):
//! `SCENARIO_SECONDS` of load (default 60), `SCENARIO_RATE` requests/s (default 40) of
//! `SCENARIO_BATCH` events (default 10), a JSON report written to `SCENARIO_REPORT` if set, and
//! `SCENARIO_FAULTS=0` for load without faults (the freshness of a healthy system).
//!
//! It freezes and restarts the shared stack, so it is its own test target and its only test.

#[path = "support/lake.rs"]
mod lake;
#[path = "../../../stream-processor/tests/common/mod.rs"]
#[allow(unused_imports, reason = "the scenario uses the oracle only")]
mod processor;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path as StorePath;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use lakehouse_bench::load::{self, Accepted, Load, Retry};
use lakehouse_delta_writer::{EVENTS_TABLE, LakeArgs};
use lakehouse_testkit::{
    Frozen, Part, Stack, TempDatabase, TestTopic, faults, random_between, read_to_end, short_session_flag,
    spawn_service_logging_to, unique, wait_until,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::process::{Child, Command};
use uuid::Uuid;

const PARTITIONS: i32 = 6;
/// Client addresses the generator sends through the api's trusted proxy header; none may be
/// stored anywhere.
const CLIENT_IPS: [&str; 3] = ["198.51.100.23", "203.0.113.77", "2001:db8::4a:17"];
/// A text every event the generator sends holds (the host of its URL).
const CONTROL: &str = "shop.example";

/// The run's size, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    load: Duration,
    rate: u32,
    batch: usize,
    report: Option<PathBuf>,
    /// `SCENARIO_FAULTS=0`: load only, for the freshness of a healthy system.
    faults: bool,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: u64| -> u64 {
            std::env::var(name)
                .ok()
                .map(|value| value.parse().unwrap_or_else(|_| panic!("{name} is a number")))
                .unwrap_or(default)
        };
        Self {
            load: Duration::from_secs(number("SCENARIO_SECONDS", 60)),
            rate: number("SCENARIO_RATE", 40) as u32,
            batch: number("SCENARIO_BATCH", 10) as usize,
            report: std::env::var_os("SCENARIO_REPORT").map(PathBuf::from),
            faults: number("SCENARIO_FAULTS", 1) != 0,
        }
    }
}

/// The secrets of this run, unique to it, so that any trace of them in a log is found.
struct Secrets {
    api_key: String,
    visitor_secret: String,
    database_password: String,
    s3_secret: String,
}

impl Secrets {
    fn new() -> Self {
        let secret = |what: &str| format!("{what}-{}", Uuid::new_v4().simple());
        Self {
            api_key: secret("scenario-key"),
            visitor_secret: secret("visitor-salt"),
            database_password: secret("pg-pass"),
            s3_secret: secret("s3-secret"),
        }
    }

    fn all(&self) -> [(&'static str, &str); 4] {
        [
            ("the API key", &self.api_key),
            ("VISITOR_ID_SECRET", &self.visitor_secret),
            ("the database password", &self.database_password),
            ("the S3 secret key", &self.s3_secret),
        ]
    }
}

/// A service binary of this workspace: from `SCENARIO_BIN_DIR` (`scripts/soak` copies them
/// there, so that a build during a long run does not change what a restart starts), else built
/// beside the test (`cargo test --workspace` builds every binary first).
fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("SCENARIO_BIN_DIR").map_or_else(
        || {
            let exe = std::env::current_exe().expect("the test binary's path");
            let dir = exe.parent().and_then(Path::parent).expect("the target directory");
            dir.to_path_buf()
        },
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --bins` first (scripts/soak does)",
        path.display()
    );
    path
}

/// One service process, restartable, its log appended to one file over all its lives.
struct Service {
    name: String,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Service {
    /// A service not started yet, logging to `<logs>/<name>.log`.
    fn new(name: &str, binary: &str, args: Vec<String>, env: Vec<(String, String)>, logs: &Path) -> Self {
        Self {
            name: name.into(),
            binary: self::binary(binary),
            args,
            env,
            log: logs.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    fn start(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(spawn_service_logging_to(&mut command, &self.name, &self.log));
        self.starts += 1;
    }

    /// SIGKILL, as a crash or an OOM kill: nothing flushed, nothing committed.
    async fn kill(&mut self) {
        let mut child = self.child.take().expect("a running service");
        child.kill().await.expect("SIGKILL");
    }

    /// SIGTERM and wait: a clean leave (a scale-down or a rolling update).
    async fn terminate(&mut self) {
        let mut child = self.child.take().expect("a running service");
        let pid = child.id().expect("a pid").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
            Ok(status) => assert!(
                status.expect("the exit status").success(),
                "{} exits cleanly on SIGTERM",
                self.name
            ),
            Err(_) => panic!("{} did not stop within 60 s of SIGTERM", self.name),
        }
    }

    /// Panics (with the log's tail) if the process ended on its own.
    fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().expect("the child's state")
        {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "{} ended on its own ({status}); its log ends:\n{}",
                self.name,
                tail.join("\n")
            );
        }
    }
}

/// What happened when, for the report.
#[derive(Default)]
struct Timeline {
    started: Option<Instant>,
    entries: Vec<String>,
}

impl Timeline {
    fn note(&mut self, what: String) {
        let at = self
            .started
            .get_or_insert_with(Instant::now)
            .elapsed()
            .as_secs_f64();
        eprintln!("[scenario {at:6.1}s] {what}");
        self.entries.push(format!("{at:.1}s {what}"));
    }
}

/// Everything the scenario runs and reads.
struct System {
    stack: Stack,
    topic: TestTopic,
    database: TempDatabase,
    lake: LakeArgs,
    logs: PathBuf,
    api: Service,
    processors: Vec<Service>,
    writers: Vec<Service>,
    api_url: String,
}

impl System {
    async fn start(stack: Stack, secrets: &Secrets) -> Self {
        let topic = TestTopic::create(&stack, PARTITIONS).await;
        let database = TempDatabase::create(&stack).await;
        let database_url = own_login(&database, &secrets.database_password).await;
        let logs = std::env::temp_dir().join(unique("scenario-logs"));
        std::fs::create_dir_all(&logs).expect("the log directory");

        let lake_uri = stack.s3_lake_uri("scenario");
        let lake_flags = [
            format!("--lake-uri={lake_uri}"),
            format!("--aws-endpoint-url={}", stack.aws_endpoint_url),
            format!("--aws-access-key-id={}", stack.aws_access_key_id),
            format!("--aws-secret-access-key={}", secrets.s3_secret),
            format!("--aws-region={}", stack.aws_region),
        ];
        let lake = {
            #[derive(Parser)]
            struct Cli {
                #[command(flatten)]
                lake: LakeArgs,
            }
            Cli::parse_from(std::iter::once("lake".to_string()).chain(lake_flags.iter().cloned())).lake
        };

        let port = free_port();
        let api = Service::new(
            "api",
            "lakehouse-api",
            topic
                .flags(&stack)
                .into_iter()
                .chain([
                    format!("--listen-addr=127.0.0.1:{port}"),
                    "--trust-forwarded-for".into(),
                    "--produce-timeout-ms=3000".into(),
                    "--rate-limit-project-events-per-sec=1000000".into(),
                    "--rate-limit-project-burst=1000000".into(),
                    "--rate-limit-ip-requests-per-sec=100000".into(),
                    "--rate-limit-ip-burst=100000".into(),
                ])
                .collect(),
            // Secrets come from the environment, as in production.
            vec![
                ("API_KEYS".into(), format!("scenario:{}", secrets.api_key)),
                ("VISITOR_ID_SECRET".into(), secrets.visitor_secret.clone()),
            ],
            &logs,
        );
        let processor = |n: usize| {
            Service::new(
                &format!("stream-processor-{n}"),
                "lakehouse-stream-processor",
                topic
                    .flags(&stack)
                    .into_iter()
                    .chain([
                        "--group-id=scenario-warehouse".into(),
                        "--metrics-addr=127.0.0.1:0".into(),
                        "--batch-max-events=500".into(),
                        "--batch-max-wait-ms=200".into(),
                        short_session_flag(),
                    ])
                    .collect(),
                vec![("DATABASE_URL".into(), database_url.clone())],
                &logs,
            )
        };
        let writer = |n: usize| {
            Service::new(
                &format!("delta-writer-{n}"),
                "lakehouse-delta-writer",
                topic
                    .flags(&stack)
                    .into_iter()
                    .chain(
                        lake_flags
                            .iter()
                            .filter(|flag| !flag.starts_with("--aws-secret"))
                            .cloned(),
                    )
                    .chain([
                        "--group-id=scenario-lake".into(),
                        "--metrics-addr=127.0.0.1:0".into(),
                        "--flush-max-age-ms=1000".into(),
                        short_session_flag(),
                    ])
                    .collect(),
                vec![("AWS_SECRET_ACCESS_KEY".into(), secrets.s3_secret.clone())],
                &logs,
            )
        };

        let mut system = Self {
            api_url: format!("http://127.0.0.1:{port}"),
            processors: vec![processor(1), processor(2)],
            writers: vec![writer(1), writer(2)],
            api,
            stack,
            topic,
            database,
            lake,
            logs,
        };
        system.api.start();
        system.processors[0].start();
        system.writers[0].start();
        let ready = format!("{}/ready", system.api_url);
        wait_until("the api is ready", Duration::from_secs(60), || {
            let ready = ready.clone();
            async move {
                match reqwest::get(&ready).await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(response.status().to_string()),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
        .await;
        system
    }

    async fn pool(&self) -> PgPool {
        PgPool::connect(&self.database.url)
            .await
            .expect("the scenario's database")
    }
}

/// The stack's `lakehouse_scenario` login, given this run's password and the database.
async fn own_login(database: &TempDatabase, password: &str) -> String {
    const ROLE: &str = "lakehouse_scenario";
    let admin = PgPool::connect(&database.url)
        .await
        .expect("the scenario's database");
    let mut connection = admin.acquire().await.expect("a connection");
    for statement in [
        format!("ALTER DATABASE {} OWNER TO {ROLE}", database.name),
        // A login may set its own password; the stack's user is a member of it.
        format!("SET ROLE {ROLE}"),
        format!("ALTER ROLE {ROLE} PASSWORD '{password}'"),
        "RESET ROLE".into(),
    ] {
        sqlx::query(&statement)
            .execute(&mut *connection)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e} (a stack from before the scenario: `scripts/stack stop postgres; scripts/stack up`)"));
    }
    drop(connection);
    admin.close().await;
    let (scheme, rest) = database.url.split_once("://").expect("a URL");
    let (_, server) = rest.split_once('@').expect("credentials in the stack's URL");
    format!("{scheme}://{ROLE}:{password}@{server}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The faults, one after another with random pauses, until `until`.
async fn inject_faults(system: &mut System, until: Instant, timeline: &mut Timeline) {
    let pause = || random_between(Duration::from_secs(2), Duration::from_secs(3));
    let mut round = 0;
    while Instant::now() < until {
        round += 1;
        let steps: [&str; 6] = [
            "kill processor",
            "kill writer",
            "freeze broker",
            "join and leave",
            "restart postgres",
            "freeze store",
        ];
        for step in steps {
            if Instant::now() >= until {
                break;
            }
            tokio::time::sleep(pause()).await;
            match step {
                "kill processor" => {
                    system.processors[0].kill().await;
                    timeline.note(format!("round {round}: stream-processor SIGKILLed"));
                    tokio::time::sleep(random_between(Duration::from_millis(300), Duration::from_secs(2)))
                        .await;
                    system.processors[0].start();
                    timeline.note("stream-processor restarted".into());
                }
                "kill writer" => {
                    system.writers[0].kill().await;
                    timeline.note(format!("round {round}: delta-writer SIGKILLed"));
                    tokio::time::sleep(random_between(Duration::from_millis(300), Duration::from_secs(2)))
                        .await;
                    system.writers[0].start();
                    timeline.note("delta-writer restarted".into());
                }
                "freeze broker" => {
                    let frozen = Frozen::freeze(Part::Tansu);
                    timeline.note(format!("round {round}: broker frozen"));
                    tokio::time::sleep(random_between(Duration::from_secs(4), Duration::from_secs(4))).await;
                    drop(frozen);
                    timeline.note("broker resumed".into());
                }
                "join and leave" => {
                    system.processors[1].start();
                    system.writers[1].start();
                    timeline.note(format!(
                        "round {round}: a second stream-processor and delta-writer joined"
                    ));
                    tokio::time::sleep(random_between(Duration::from_secs(8), Duration::from_secs(6))).await;
                    system.processors[1].terminate().await;
                    system.writers[1].terminate().await;
                    timeline.note("the second stream-processor and delta-writer left (SIGTERM)".into());
                }
                "restart postgres" => {
                    faults::stack("stop", Part::Postgres);
                    timeline.note(format!("round {round}: PostgreSQL stopped"));
                    tokio::time::sleep(random_between(Duration::from_secs(2), Duration::from_secs(3))).await;
                    faults::stack("start", Part::Postgres);
                    timeline.note("PostgreSQL started".into());
                }
                "freeze store" => {
                    let frozen = Frozen::freeze(Part::Moto);
                    timeline.note(format!("round {round}: object store frozen"));
                    tokio::time::sleep(random_between(Duration::from_secs(4), Duration::from_secs(4))).await;
                    drop(frozen);
                    timeline.note("object store resumed".into());
                }
                _ => unreachable!(),
            }
            system.api.assert_running();
            system.processors[0].assert_running();
            system.writers[0].assert_running();
        }
    }
}

async fn warehouse_ingested(pool: &PgPool) -> Result<HashMap<Uuid, DateTime<Utc>>, String> {
    let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as("SELECT event_id, ingested_at FROM events")
        .fetch_all(pool)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().collect())
}

/// When each event first became visible in the lake: the timestamp of the commit that first added
/// a file holding it (taken by the writer just before it writes the commit's log file).
async fn lake_commit_times(lake: &LakeArgs) -> HashMap<Uuid, DateTime<Utc>> {
    let url = lakehouse_delta_writer::table_url(&lake.lake_uri, EVENTS_TABLE).expect("the table URL");
    let table = lakehouse_delta_writer::open_table(url, lake)
        .await
        .expect("the table");
    let store = table.object_store();
    let latest = table.version().expect("a table");
    let mut first_seen = HashMap::new();
    for version in 0..=latest {
        let log = store
            .get(&StorePath::from(format!("_delta_log/{version:020}.json")))
            .await
            .expect("a commit file")
            .bytes()
            .await
            .expect("its bytes");
        let actions: Vec<Value> = log
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).expect("a JSON action"))
            .collect();
        let Some(millis) = actions.iter().find_map(|a| a["commitInfo"]["timestamp"].as_i64()) else {
            continue;
        };
        let committed = Utc.timestamp_millis_opt(millis).single().expect("a time");
        for path in actions.iter().filter_map(|a| a["add"]["path"].as_str()) {
            let path = urlencoding_decode(path);
            let bytes = store
                .get(&StorePath::from(path.as_str()))
                .await
                .expect("a data file")
                .bytes()
                .await
                .expect("its bytes");
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .expect("a Parquet file")
                .build()
                .expect("a reader");
            for batch in reader {
                let batch = batch.expect("a batch");
                let column = batch.column_by_name("event_id").expect("an event_id column");
                let ids = cast(column, &DataType::Utf8).expect("ids as text");
                for id in ids.as_string::<i32>().iter().flatten() {
                    first_seen.entry(id.parse().expect("a UUID")).or_insert(committed);
                }
            }
        }
    }
    first_seen
}

/// Delta log paths are percent-encoded (a partition value may hold any character).
fn urlencoding_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("a UTF-8 path")
}

/// Latency quantiles (ms) of `visible − acked` over the accepted events.
fn freshness(accepted: &[Accepted], visible: &HashMap<Uuid, DateTime<Utc>>) -> Value {
    let mut millis: Vec<i64> = accepted
        .iter()
        .filter_map(|a| {
            visible
                .get(&a.event_id)
                .map(|at| (*at - a.acked_at).num_milliseconds())
        })
        .collect();
    millis.sort_unstable();
    let at = |p: f64| {
        millis
            .get(((millis.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
    };
    json!({"events": millis.len(), "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": millis.last()})
}

/// Lines of `logs` that hold any of `needles`: (file, what, line).
fn leaks(logs: &Path, needles: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(logs).expect("the log directory") {
        let path = entry.expect("a log").path();
        let text = std::fs::read_to_string(&path).expect("a log file");
        for line in text.lines() {
            for (what, needle) in needles {
                if line.contains(needle) {
                    found.push(format!("{}: {what}: {line}", path.display()));
                }
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_or_duplicated_under_faults() {
    let settings = Settings::from_env();
    let secrets = Secrets::new();
    let mut timeline = Timeline::default();
    let mut system = System::start(Stack::from_env(), &secrets).await;
    timeline.note(format!(
        "started: {} s of load, {} requests/s of {} events; logs in {}",
        settings.load.as_secs(),
        settings.rate,
        settings.batch,
        system.logs.display()
    ));

    let load = Load {
        concurrency: 16,
        rate: Some(settings.rate),
        batch: settings.batch,
        duration: settings.load,
        warmup: Duration::ZERO,
        retry: Some(Retry {
            give_up_after: Duration::from_secs(180),
            max_backoff: Duration::from_secs(2),
        }),
        track: true,
        forwarded_for: CLIENT_IPS.iter().map(|ip| ip.to_string()).collect(),
        timeout: Duration::from_secs(10),
        ..Load::new(format!("{}/analytics", system.api_url), secrets.api_key.clone())
    };
    let generator = tokio::spawn(load::run(load.clone()));
    // Faults stop a few seconds before the load does, so that the last one is recovered under load.
    let faults_until = Instant::now() + settings.load.saturating_sub(Duration::from_secs(8));
    if settings.faults {
        inject_faults(&mut system, faults_until, &mut timeline).await;
    }
    let report = generator
        .await
        .expect("the generator")
        .expect("the generator's client");
    timeline.note(format!("load done: {}", report.summary(&load)));

    // Every request was answered in the end.
    assert!(
        report.abandoned.is_empty(),
        "{} events never accepted",
        report.abandoned.len()
    );
    let accepted: HashSet<Uuid> = report.accepted.iter().map(|a| a.event_id).collect();
    assert_eq!(
        accepted.len(),
        report.accepted.len(),
        "each accepted event once in the generator's list"
    );
    assert!(
        accepted.len() as u64
            >= settings.load.as_secs() * u64::from(settings.rate) * settings.batch as u64 / 2
    );

    // Both stores converge to the accepted events.
    let pool = system.pool().await;
    let patience = Duration::from_secs(300);
    wait_until("the warehouse holds every accepted event", patience, || {
        let pool = pool.clone();
        let expected = accepted.len();
        async move {
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&pool)
                .await
                .map_err(|e| e.to_string())?;
            if stored as usize >= expected {
                Ok(())
            } else {
                Err(format!("{stored} of {expected}"))
            }
        }
    })
    .await;
    timeline.note("the warehouse caught up".into());
    wait_until("the lake holds every accepted event", patience, || {
        let lake = &system.lake;
        let expected = accepted.len();
        async move {
            let counts = lake::id_counts(lake).await?;
            if counts.len() >= expected {
                Ok(())
            } else {
                Err(format!("{} of {expected}", counts.len()))
            }
        }
    })
    .await;
    timeline.note("the lake caught up".into());
    for service in [&mut system.api, &mut system.processors[0], &mut system.writers[0]] {
        service.assert_running();
    }

    // Exactly once: the same set of events in both stores, each once.
    let warehouse = warehouse_ingested(&pool).await.expect("the warehouse's events");
    let in_warehouse: HashSet<Uuid> = warehouse.keys().copied().collect();
    assert_eq!(
        in_warehouse.difference(&accepted).count(),
        0,
        "events in the warehouse no 2xx accepted"
    );
    assert_eq!(
        accepted.difference(&in_warehouse).count(),
        0,
        "accepted events missing from the warehouse"
    );
    let lake_counts = lake::id_counts(&system.lake).await.expect("the lake's events");
    let twice: Vec<_> = lake_counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{} events more than once in the lake",
        twice.len()
    );
    let in_lake: HashSet<Uuid> = lake_counts.keys().copied().collect();
    assert_eq!(in_lake, accepted, "the lake holds exactly the accepted events");

    // The derived tables equal their recomputation from the raw events.
    let mismatches = processor::derived_mismatches(&pool).await;
    assert!(
        mismatches.is_empty(),
        "derived tables that disagree with the raw events: {mismatches:?}"
    );
    let empty = processor::empty_derived_tables(&pool).await;
    assert!(
        empty.is_empty(),
        "derived tables with no rows prove nothing: {empty:?}"
    );

    // Nothing valid went to the DLQ (the consumers are still running: a marker is no message for
    // them, they read the main topic only).
    let dead = read_to_end(
        &system.stack,
        &system.topic.dlq,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await;
    assert!(dead.is_empty(), "{} messages in the DLQ", dead.len());

    // Freshness, before the lake's history is read for it.
    let lake_times = lake_commit_times(&system.lake).await;
    let warehouse_freshness = freshness(&report.accepted, &warehouse);
    let lake_freshness = freshness(&report.accepted, &lake_times);
    assert_eq!(warehouse_freshness["events"], accepted.len());
    assert_eq!(lake_freshness["events"], accepted.len());

    // Stop the consumers, then read the whole topic: no client IP in any message.
    for service in [&mut system.processors[0], &mut system.writers[0], &mut system.api] {
        service.terminate().await;
    }
    let messages = read_to_end(
        &system.stack,
        &system.topic.name,
        PARTITIONS,
        Duration::from_secs(120),
    )
    .await;
    let in_topic: HashSet<Uuid> = messages
        .iter()
        .map(|m| {
            use rdkafka::Message;
            let event: Value = serde_json::from_slice(m.payload().unwrap_or_default()).expect("a JSON event");
            event["event_id"]
                .as_str()
                .expect("an event_id")
                .parse()
                .expect("a UUID")
        })
        .collect();
    assert_eq!(
        in_topic, accepted,
        "the topic holds every accepted event and no other"
    );
    // No client IP at rest. Each scan is checked on a text every event holds (its URL's host),
    // so that a scan that cannot see is not mistaken for a clean store.
    let topic_holding = |needles: &[&str]| {
        messages
            .iter()
            .filter(|m| {
                use rdkafka::Message;
                let payload = String::from_utf8_lossy(m.payload().unwrap_or_default());
                needles.iter().any(|needle| payload.contains(needle))
            })
            .count()
    };
    assert_eq!(topic_holding(&[CONTROL]), messages.len(), "the topic scan sees");
    assert_eq!(topic_holding(&CLIENT_IPS), 0, "messages holding a client IP");
    assert_eq!(
        warehouse_rows_holding(&pool, &[CONTROL]).await,
        accepted.len() as i64,
        "the warehouse scan sees"
    );
    assert_eq!(
        warehouse_rows_holding(&pool, &CLIENT_IPS).await,
        0,
        "warehouse rows holding a client IP"
    );
    assert_eq!(
        lake_rows_holding(&system.lake, &[CONTROL]).await,
        accepted.len() as i64,
        "the lake scan sees"
    );
    assert_eq!(
        lake_rows_holding(&system.lake, &CLIENT_IPS).await,
        0,
        "lake rows holding a client IP"
    );

    // No secret and no client IP in any log line; the scan sees what the logs do hold.
    let mut needles: Vec<(&str, &str)> = secrets.all().to_vec();
    needles.extend(CLIENT_IPS.iter().map(|ip| ("a client IP", *ip)));
    let found = leaks(&system.logs, &needles);
    assert!(found.is_empty(), "secrets in logs:\n{}", found.join("\n"));
    assert!(
        !leaks(&system.logs, &[("the topic", system.topic.name.as_str())]).is_empty(),
        "the log scan sees the topic's name"
    );
    let log_lines: usize = std::fs::read_dir(&system.logs)
        .expect("the logs")
        .map(|e| {
            std::fs::read_to_string(e.expect("a log").path())
                .expect("a log")
                .lines()
                .count()
        })
        .sum();

    let summary = json!({
        "settings": {
            "seconds": settings.load.as_secs(),
            "rate": settings.rate,
            "batch": settings.batch,
            "faults": settings.faults,
        },
        "load": report.summary(&load),
        "accepted_events": accepted.len(),
        "topic_messages": messages.len(),
        // Sent twice by the generator (refused, yet stored) and kept once by both stores.
        "topic_duplicates": messages.len() - in_topic.len(),
        "warehouse_events": in_warehouse.len(),
        "lake_events": in_lake.len(),
        "lake_duplicates": 0,
        "dlq_messages": dead.len(),
        "restarts": BTreeMap::from([
            ("stream-processor", system.processors[0].starts - 1),
            ("delta-writer", system.writers[0].starts - 1),
        ]),
        "freshness_warehouse": warehouse_freshness,
        "freshness_lake": lake_freshness,
        "log_lines_scanned": log_lines,
        "timeline": timeline.entries,
    });
    eprintln!("{}", serde_json::to_string_pretty(&summary).expect("JSON"));
    if let Some(path) = settings.report {
        std::fs::write(&path, serde_json::to_string_pretty(&summary).expect("JSON")).expect("the report");
    }
    let _ = std::fs::remove_dir_all(&system.logs);
}

/// Rows of the warehouse's `events` with any of `needles` anywhere in the row.
async fn warehouse_rows_holding(pool: &PgPool, needles: &[&str]) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events e WHERE e::text LIKE ANY (SELECT '%' || n || '%' FROM unnest($1::text[]) AS n)")
        .bind(needles)
        .fetch_one(pool)
        .await
        .expect("the warehouse scan")
}

/// Rows of the lake's latest version with any of `needles` in any text column.
async fn lake_rows_holding(lake: &LakeArgs, needles: &[&str]) -> i64 {
    let url = lakehouse_delta_writer::table_url(&lake.lake_uri, EVENTS_TABLE).expect("the table URL");
    let table = lakehouse_delta_writer::open_table(url, lake)
        .await
        .expect("the table");
    let batches = lakehouse_delta_writer::query(&table, "SELECT * FROM events LIMIT 1")
        .await
        .expect("the schema");
    let schema = batches.first().expect("a row").schema();
    let text_columns: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
        .map(|f| format!("\"{}\"", f.name()))
        .collect();
    assert!(
        text_columns.len() > 5,
        "the lake's text columns: {text_columns:?}"
    );
    let condition: Vec<String> = text_columns
        .iter()
        .flat_map(|column| {
            needles
                .iter()
                .map(move |ip| format!("strpos(coalesce({column}, ''), '{ip}') > 0"))
        })
        .collect();
    let sql = format!("SELECT count(*) FROM events WHERE {}", condition.join(" OR "));
    let batches = lakehouse_delta_writer::query(&table, &sql)
        .await
        .expect("the scan");
    let counts = batches[0].column(0);
    assert!(!counts.is_null(0));
    counts.as_primitive::<Int64Type>().value(0)
}
