//! The freshness alert on a real Prometheus (Debian's, from `scripts/stack`): Prometheus scrapes
//! the real api, stream-processor and delta-writer every second and evaluates
//! `prometheus/rules/lakehouse.yml` every second; events arrive through the api the whole time;
//! the stream-processor is stopped, and `LakehouseSinkStale{sink="warehouse"}` is followed through
//! Prometheus' HTTP API: pending, then firing, then resolved once the processor is back. Before
//! that, both sinks' freshness histograms and per-partition lag are seen through Prometheus.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lakehouse_e2e::services::{binary, free_port, terminate};
use lakehouse_e2e::tools;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, spawn_service, unique, wait_until};
use serde_json::Value;
use tokio::process::{Child, Command};

use tokio_util::sync::CancellationToken;

const ALERT: &str = "LakehouseSinkStale";
const API_KEY: &str = "alerts-test-key";

/// A loopback address nothing listens on now.
fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

fn prometheus_binary() -> String {
    lakehouse_testkit::stack::setting("LAKEHOUSE_PROMETHEUS")
}

/// The services under test, each on its own loopback port.
struct Services {
    stack: Stack,
    topic: TestTopic,
    database: TempDatabase,
    lake: PathBuf,
    api: SocketAddr,
    processor: SocketAddr,
    writer: SocketAddr,
    /// The consumers' groups, the same across restarts.
    groups: (String, String),
}

impl Services {
    fn kafka_env(&self, command: &mut Command) {
        command
            .env("KAFKA_BROKERS", &self.stack.kafka_brokers)
            .env("KAFKA_TOPIC", &self.topic.name)
            .env("KAFKA_DLQ_TOPIC", &self.topic.dlq)
            .env("LOG_FORMAT", "json");
    }

    fn api(&self) -> Child {
        let mut command = Command::new(binary("lakehouse-api"));
        self.kafka_env(&mut command);
        command
            .env("LISTEN_ADDR", self.api.to_string())
            .env("API_KEYS", format!("alerts:{API_KEY}"))
            .env("VISITOR_ID_SECRET_EPHEMERAL", "true")
            .env("RATE_LIMIT_IP_REQUESTS_PER_SEC", "0")
            .env_remove("DATABASE_URL");
        spawn_service(&mut command, "the api")
    }

    fn processor(&self) -> Child {
        let mut command = Command::new(binary("lakehouse-stream-processor"));
        self.kafka_env(&mut command);
        command
            .env("METRICS_ADDR", self.processor.to_string())
            .env("DATABASE_URL", &self.database.url)
            .env("KAFKA_GROUP_ID", &self.groups.0);
        spawn_service(&mut command, "the stream-processor")
    }

    fn writer(&self) -> Child {
        let mut command = Command::new(binary("lakehouse-delta-writer"));
        self.kafka_env(&mut command);
        command
            .env("METRICS_ADDR", self.writer.to_string())
            .env("LAKE_URI", &self.lake)
            .env("FLUSH_MAX_AGE_MS", "1000")
            .env("KAFKA_GROUP_ID", &self.groups.1)
            .env_remove("DATABASE_URL");
        spawn_service(&mut command, "the delta-writer")
    }
}

/// Prometheus' configuration: the three services, the repository's rules, every second.
fn prometheus_config(services: &Services, dir: &Path) -> PathBuf {
    let rules = tools::repo().join("prometheus/rules/lakehouse.yml");
    let job = |name: &str, addr: SocketAddr| {
        format!("  - job_name: {name}\n    static_configs: [{{targets: [\"{addr}\"]}}]\n")
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
         rule_files: [\"{}\"]\nscrape_configs:\n{}{}{}",
        rules.display(),
        job("lakehouse-api", services.api),
        job("lakehouse-stream-processor", services.processor),
        job("lakehouse-delta-writer", services.writer),
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).expect("Prometheus' configuration");
    path
}

fn prometheus(config: &Path, data: &Path, listen: SocketAddr) -> Child {
    let mut command = Command::new(prometheus_binary());
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address={listen}"))
        .arg("--log.level=warn");
    spawn_service(&mut command, "Prometheus")
}

/// Posts one event every 100 ms until `stop`, and counts the 202s.
async fn post_events(api: SocketAddr, stop: CancellationToken) -> u64 {
    let client = reqwest::Client::new();
    let mut accepted = 0;
    let mut every = tokio::time::interval(Duration::from_millis(100));
    // Bounded: the test ends long before.
    let deadline = Instant::now() + Duration::from_secs(900);
    while stop.run_until_cancelled(every.tick()).await.is_some() && Instant::now() < deadline {
        let posted = client
            .post(format!("http://{api}/analytics"))
            .header("X-API-Key", API_KEY)
            .json(&serde_json::json!({"event_type": "page_view", "session_id": unique("s")}))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if posted.is_ok_and(|r| r.status() == reqwest::StatusCode::ACCEPTED) {
            accepted += 1;
        }
    }
    accepted
}

/// The state of the warehouse's `LakehouseSinkStale` alert: `pending`, `firing`, or `None`.
async fn alert_state(client: &reqwest::Client, prometheus: SocketAddr) -> Result<Option<String>, String> {
    let body: Value = client
        .get(format!("http://{prometheus}/api/v1/alerts"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(body["data"]["alerts"]
        .as_array()
        .ok_or_else(|| format!("no alerts in {body}"))?
        .iter()
        .find(|alert| alert["labels"]["alertname"] == ALERT && alert["labels"]["sink"] == "warehouse")
        .and_then(|alert| alert["state"].as_str().map(str::to_string)))
}

/// The value of an instant query, when it has one.
async fn query(client: &reqwest::Client, prometheus: SocketAddr, promql: &str) -> Result<f64, String> {
    let body: Value = client
        .get(format!("http://{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{promql}: {body}"))
}

/// Waits until the alert is in `state` (`None`: neither pending nor firing), seeing what it went
/// through on the way; returns the states seen and when it got there.
async fn follow(
    client: &reqwest::Client,
    prometheus: SocketAddr,
    state: Option<&str>,
    timeout: Duration,
) -> (Vec<Option<String>>, Instant) {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<Option<String>> = Vec::new();
    loop {
        match alert_state(client, prometheus).await {
            Ok(now) => {
                if seen.last() != Some(&now) {
                    seen.push(now.clone());
                }
                if now.as_deref() == state {
                    return (seen, Instant::now());
                }
            }
            Err(error) => eprintln!("alerts: {error}"),
        }
        assert!(
            Instant::now() < deadline,
            "{ALERT} did not reach {state:?} within {timeout:?}; seen {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_freshness_alert_fires_while_the_processor_is_stopped_and_resolves_after() {
    let stack = Stack::from_env();
    let dir = std::env::temp_dir().join(unique("alerts"));
    std::fs::create_dir_all(dir.join("prometheus")).expect("a folder");
    let services = Services {
        topic: TestTopic::create(&stack, 2).await,
        database: TempDatabase::create(&stack).await,
        lake: dir.join("lake"),
        api: free_addr(),
        processor: free_addr(),
        writer: free_addr(),
        groups: (unique("alerts-warehouse"), unique("alerts-lake")),
        stack,
    };
    let _api = services.api();
    let mut processor = services.processor();
    let _writer = services.writer();
    let listen = free_addr();
    let _prometheus = prometheus(
        &prometheus_config(&services, &dir),
        &dir.join("prometheus"),
        listen,
    );
    let stop_posting = CancellationToken::new();
    let posting = tokio::spawn(post_events(services.api, stop_posting.clone()));
    let client = reqwest::Client::new();

    // Everything scraped, the warehouse fresh, and the alert silent.
    wait_until(
        "Prometheus scraping the three services",
        Duration::from_secs(120),
        || {
            let client = client.clone();
            async move {
                let up = query(&client, listen, r#"sum(up{job=~"lakehouse-.*"})"#).await?;
                (up == 3.0).then_some(()).ok_or(format!("{up} targets up"))
            }
        },
    )
    .await;
    wait_until(
        "the warehouse's freshness reported",
        Duration::from_secs(120),
        || {
            let client = client.clone();
            async move {
                let age = query(
                    &client,
                    listen,
                    r#"time() - max(lakehouse_sink_newest_received_timestamp_seconds{sink="warehouse"})"#,
                )
                .await?;
                (age < 30.0).then_some(()).ok_or(format!("{age} s old"))
            }
        },
    )
    .await;
    // Both sinks report the freshness of what they commit and the lag of each partition.
    wait_until(
        "both sinks' freshness and lag scraped",
        Duration::from_secs(120),
        || {
            let client = client.clone();
            async move {
                for sink in ["warehouse", "lake"] {
                    let committed = query(
                        &client,
                        listen,
                        &format!(r#"sum(lakehouse_sink_freshness_seconds_count{{sink="{sink}"}})"#),
                    )
                    .await?;
                    let partitions = query(
                        &client,
                        listen,
                        &format!(r#"count(lakehouse_consumer_lag_seconds{{sink="{sink}"}})"#),
                    )
                    .await?;
                    if committed < 1.0 || partitions != 2.0 {
                        return Err(format!(
                            "{sink}: {committed} committed, lag of {partitions} partitions"
                        ));
                    }
                }
                Ok(())
            }
        },
    )
    .await;
    assert_eq!(alert_state(&client, listen).await, Ok(None), "silent while fresh");

    // The processor stops while events keep arriving.
    let stopped = Instant::now();
    terminate(&mut processor, "the stream-processor").await;
    let (before_pending, pending) = follow(&client, listen, Some("pending"), Duration::from_secs(240)).await;
    let (pending_to_firing, firing) = follow(&client, listen, Some("firing"), Duration::from_secs(120)).await;
    assert_eq!(
        before_pending,
        [None, Some("pending".to_string())],
        "silent, then pending"
    );
    assert_eq!(
        pending_to_firing,
        [Some("pending".to_string()), Some("firing".to_string())],
        "pending, then firing"
    );

    // Back: it catches up and the alert resolves.
    let restarted = Instant::now();
    let _processor = services.processor();
    let (_, resolved) = follow(&client, listen, None, Duration::from_secs(180)).await;
    stop_posting.cancel();
    let accepted = posting.await.expect("the poster");
    assert!(accepted > 100, "only {accepted} events accepted");
    eprintln!(
        "{ALERT}: pending {:.1} s after the stop, firing {:.1} s after, resolved {:.1} s after the restart",
        (pending - stopped).as_secs_f64(),
        (firing - stopped).as_secs_f64(),
        (resolved - restarted).as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).ok();
}
