//! The checks phase: each promise of the system checked on what the run left, one function each,
//! in the order the scenario runs them. Each returns what the report needs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lakehouse_bench::load::freshness;
use lakehouse_testkit::{derived_mismatches, empty_derived_tables, read_to_end};
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::load::LoadRun;
use super::{CLIENT_IPS, CONTROL, PARTITIONS, Scenario};

/// Every request was answered in the end, each accepted event is once in the generator's list,
/// and at least half the load's events were accepted: the accepted events' ids.
pub fn every_request_was_answered(scenario: &Scenario, run: &LoadRun) -> HashSet<Uuid> {
    let (report, settings) = (&run.report, &scenario.settings);
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
    accepted
}

/// What the two stores hold once they settled.
#[derive(Debug)]
pub struct Stores {
    /// When each event was inserted into the warehouse.
    pub warehouse: HashMap<Uuid, DateTime<Utc>>,
    /// Events in the lake (each once).
    pub lake_events: usize,
}

/// Exactly once: the same set of events in both stores, the accepted ones, each once.
pub async fn each_accepted_event_is_once_in_both_stores(
    scenario: &Scenario,
    accepted: &HashSet<Uuid>,
) -> Stores {
    let warehouse = warehouse_ingested(scenario.warehouse())
        .await
        .expect("the warehouse's events");
    let in_warehouse: HashSet<Uuid> = warehouse.keys().copied().collect();
    assert_eq!(
        in_warehouse.difference(accepted).count(),
        0,
        "events in the warehouse no 2xx accepted"
    );
    assert_eq!(
        accepted.difference(&in_warehouse).count(),
        0,
        "accepted events missing from the warehouse"
    );
    let lake_counts = scenario.system.lake.id_counts().await.expect("the lake's events");
    let twice: Vec<_> = lake_counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{} events more than once in the lake",
        twice.len()
    );
    let in_lake: HashSet<Uuid> = lake_counts.keys().copied().collect();
    assert_eq!(&in_lake, accepted, "the lake holds exactly the accepted events");
    Stores {
        warehouse,
        lake_events: in_lake.len(),
    }
}

/// The derived tables equal their recomputation from the raw events, and none is empty.
pub async fn derived_tables_equal_their_recomputation(scenario: &Scenario) {
    let pool = scenario.warehouse();
    let mismatches = derived_mismatches(pool).await;
    assert!(
        mismatches.is_empty(),
        "derived tables that disagree with the raw events: {mismatches:?}"
    );
    let empty = empty_derived_tables(pool).await;
    assert!(
        empty.is_empty(),
        "derived tables with no rows prove nothing: {empty:?}"
    );
}

/// Nothing valid went to the DLQ (the consumers are still running: a marker is no message for
/// them, they read the main topic only). How many messages it holds: none.
pub async fn nothing_went_to_the_dead_letter_queue(scenario: &Scenario) -> usize {
    let system = &scenario.system;
    let dead = read_to_end(
        &system.stack,
        &system.topic.dlq,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await;
    assert!(dead.is_empty(), "{} messages in the DLQ", dead.len());
    dead.len()
}

/// Latency quantiles of `visible − acked` in each store, as the benchmarks measure them
/// (`lakehouse_bench::load::freshness`, in ms).
#[derive(Debug)]
pub struct Freshness {
    pub warehouse: Value,
    pub lake: Value,
}

/// Every accepted event became visible in both stores; how long after its 2xx (read before the
/// services stop, from the warehouse's insert times and the lake's commit times).
pub async fn every_event_became_visible(
    scenario: &Scenario,
    run: &LoadRun,
    accepted: &HashSet<Uuid>,
    stores: &Stores,
) -> Freshness {
    let lake_times = scenario.system.lake.first_visible().await;
    let warehouse = freshness(&run.report.accepted, &stores.warehouse);
    let lake = freshness(&run.report.accepted, &lake_times);
    assert_eq!(warehouse["events"], accepted.len());
    assert_eq!(lake["events"], accepted.len());
    Freshness { warehouse, lake }
}

/// Every message of the topic, read to its end once the services stopped.
#[derive(Debug)]
pub struct Topic {
    pub messages: Vec<OwnedMessage>,
    /// The distinct `event_id`s among them.
    pub ids: HashSet<Uuid>,
}

/// The topic holds every accepted event and no other.
pub async fn the_topic_holds_exactly_the_accepted_events(
    scenario: &Scenario,
    accepted: &HashSet<Uuid>,
) -> Topic {
    let system = &scenario.system;
    let messages = read_to_end(
        &system.stack,
        &system.topic.name,
        PARTITIONS,
        Duration::from_secs(120),
    )
    .await;
    let ids: HashSet<Uuid> = messages
        .iter()
        .map(|m| {
            let event: Value = serde_json::from_slice(m.payload().unwrap_or_default()).expect("a JSON event");
            event["event_id"]
                .as_str()
                .expect("an event_id")
                .parse()
                .expect("a UUID")
        })
        .collect();
    assert_eq!(
        &ids, accepted,
        "the topic holds every accepted event and no other"
    );
    Topic { messages, ids }
}

/// No client IP at rest: not in the topic, the warehouse or the lake. Each scan is checked on a
/// text every event holds (its URL's host), so that a scan that cannot see is not mistaken for a
/// clean store.
pub async fn no_client_ip_at_rest(scenario: &Scenario, topic: &Topic, accepted: &HashSet<Uuid>) {
    let messages = &topic.messages;
    let topic_holding = |needles: &[&str]| {
        messages
            .iter()
            .filter(|m| {
                let payload = String::from_utf8_lossy(m.payload().unwrap_or_default());
                needles.iter().any(|needle| payload.contains(needle))
            })
            .count()
    };
    assert_eq!(topic_holding(&[CONTROL]), messages.len(), "the topic scan sees");
    assert_eq!(topic_holding(&CLIENT_IPS), 0, "messages holding a client IP");
    let pool = scenario.warehouse();
    assert_eq!(
        warehouse_rows_holding(pool, &[CONTROL]).await,
        accepted.len() as i64,
        "the warehouse scan sees"
    );
    assert_eq!(
        warehouse_rows_holding(pool, &CLIENT_IPS).await,
        0,
        "warehouse rows holding a client IP"
    );
    let lake = &scenario.system.lake;
    assert_eq!(
        lake.rows_holding(&[CONTROL]).await,
        accepted.len() as i64,
        "the lake scan sees"
    );
    assert_eq!(
        lake.rows_holding(&CLIENT_IPS).await,
        0,
        "lake rows holding a client IP"
    );
}

/// No secret and no client IP in any log line; the scan sees what the logs do hold. How many log
/// lines were scanned.
pub fn no_secret_or_client_ip_in_any_log(scenario: &Scenario) -> usize {
    let logs = &scenario.system.logs;
    let mut needles: Vec<(&str, &str)> = scenario.secrets.all().to_vec();
    needles.extend(CLIENT_IPS.iter().map(|ip| ("a client IP", *ip)));
    let found = leaks(logs, &needles);
    assert!(found.is_empty(), "secrets in logs:\n{}", found.join("\n"));
    assert!(
        !leaks(logs, &[("the topic", scenario.system.topic.name.as_str())]).is_empty(),
        "the log scan sees the topic's name"
    );
    std::fs::read_dir(logs)
        .expect("the logs")
        .map(|e| {
            std::fs::read_to_string(e.expect("a log").path())
                .expect("a log")
                .lines()
                .count()
        })
        .sum()
}

async fn warehouse_ingested(pool: &PgPool) -> Result<HashMap<Uuid, DateTime<Utc>>, String> {
    let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as("SELECT event_id, ingested_at FROM events")
        .fetch_all(pool)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().collect())
}

/// Rows of the warehouse's `events` with any of `needles` anywhere in the row.
async fn warehouse_rows_holding(pool: &PgPool, needles: &[&str]) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events e WHERE e::text LIKE ANY (SELECT '%' || n || '%' FROM unnest($1::text[]) AS n)")
        .bind(needles)
        .fetch_one(pool)
        .await
        .expect("the warehouse scan")
}

/// Lines of the files in `logs` that hold any of `needles`: (file, what, line).
fn leaks(logs: &std::path::Path, needles: &[(&str, &str)]) -> Vec<String> {
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
