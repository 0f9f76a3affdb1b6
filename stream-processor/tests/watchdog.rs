//! The stall watchdog on the real broker, with the real binary. tansu 0.6 hands a member that
//! joins while members that just died still hold their sessions nothing, and does not rebalance
//! when those sessions end (DESIGN.md §6): a member started right after a few crashes in a row is
//! left with `[]` while the partitions grow unread. Its watchdog must say so on `/ready`, log a
//! WARN with the reason, count the rejoin in `lakehouse_consumer_rejoins_total`, and leave and join
//! again, so that it reads the partitions within a few limits; every event is stored once at the
//! end. The crashes are repeated until the broker does hand a new member nothing (on a broker that
//! never does, the test fails: it cannot show the recovery).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, processor, ready};
use lakehouse_testkit::restart::Load;
use lakehouse_testkit::warehouse::{PATIENCE, stored_offsets_so_far, wait_for_rows_and_offsets};
use lakehouse_testkit::{
    Stack, TempDatabase, TestTopic, random_between, spawn_service, spawn_service_logging_to, unique,
    wait_until,
};
use sqlx::PgPool;

/// The watchdog's limit for the services' session timeout (the session timeout plus 4 s).
const LIMIT: Duration = Duration::from_secs(lakehouse_kafka::SESSION_TIMEOUT.as_secs() + 4);

/// How many times the crashes are repeated until a new member is handed nothing.
const ATTEMPTS: usize = 5;
/// The rejoins the member counted for `reason`, from its `/metrics`.
async fn rejoins(http: &reqwest::Client, port: u16, group: &str, reason: &str) -> Option<u64> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .filter(|line| line.starts_with("lakehouse_consumer_rejoins_total{"))
        .filter(|line| {
            line.contains(&format!("group=\"{group}\"")) && line.contains(&format!("reason=\"{reason}\""))
        })
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

fn log_lines(log: &Path, pattern: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(pattern))
        .map(str::to_string)
        .collect()
}

fn warnings(log: &Path) -> Vec<String> {
    log_lines(log, "joining again")
        .into_iter()
        .filter(|line| line.contains("\"WARN\""))
        .collect()
}

/// The partitions the member's first assignment gave it, as logged (`"[]"`: none).
async fn first_assignment(log: &Path) -> String {
    wait_until("the new member's first assignment", PATIENCE, || async {
        let assigned = log_lines(log, "\"partitions assigned\"");
        let first = assigned.first().ok_or("not assigned yet")?;
        let value: serde_json::Value = serde_json::from_str(first).map_err(|e| e.to_string())?;
        Ok(value["partitions"].as_str().unwrap_or_default().to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_handed_nothing_while_partitions_grow_unread_rejoins_and_reads_them_within_its_limit() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse-watchdog");
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let http = reqwest::Client::new();
    let dir: PathBuf = std::env::temp_dir().join(unique("watchdog"));
    std::fs::create_dir_all(&dir).expect("a log directory");
    let stored = async || stored_offsets_so_far(&pool).await;

    let load = Load::start(&stack, &topic.name, seed, 10);
    let mut found = None;
    for attempt in 1..=ATTEMPTS {
        // Members that crash one after another, each a moment after it started.
        for _ in 0..4 {
            let mut crashing = spawn_service(
                &mut processor(&stack, &topic, &database, &group, free_port()),
                "a crashing stream-processor",
            );
            tokio::time::sleep(random_between(
                Duration::from_millis(200),
                Duration::from_millis(2800),
            ))
            .await;
            crashing.start_kill().expect("SIGKILL");
            crashing.wait().await.expect("the killed child is reaped");
        }
        let log = dir.join(format!("member-{attempt}.log"));
        let port = free_port();
        let member = spawn_service_logging_to(
            &mut processor(&stack, &topic, &database, &group, port),
            "the stream-processor",
            &log,
        );
        let assigned = first_assignment(&log).await;
        eprintln!("attempt {attempt}: the new member was handed {assigned}");
        if assigned == "[]" {
            found = Some((member, log, port, Instant::now()));
            break;
        }
        drop(member); // SIGKILL: one more crash for the next attempt
    }
    let (mut member, log, port, handed_nothing) = found
        .unwrap_or_else(|| panic!("the broker handed a new member nothing in none of {ATTEMPTS} attempts"));
    let before = stored().await;

    // Until it makes progress: was it ever not ready for lack of partitions?
    let mut unready = None;
    let progress = loop {
        if let Some((503, body)) = ready(&http, port).await
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&body)
            && value["checks"]["partitions"] != "ok"
        {
            unready.get_or_insert(body);
        }
        if stored().await > before {
            break handed_nothing.elapsed();
        }
        assert!(
            handed_nothing.elapsed() < LIMIT * 4,
            "the member stored nothing in {:?}; its warnings: {:?}",
            LIMIT * 4,
            warnings(&log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "the member made progress {:.1} s after it was handed nothing",
        progress.as_secs_f64()
    );

    let warned = warnings(&log);
    assert!(
        warned
            .iter()
            .any(|line| line.contains("no_partitions") && line.contains("held no partition")),
        "a WARN saying why it rejoins: {warned:?}"
    );
    let rejoins = rejoins(&http, port, &group, "no_partitions").await;
    assert!(
        rejoins.is_some_and(|n| n >= 1),
        "the rejoin is counted: {rejoins:?}"
    );
    let unready = unready.expect("/ready failed while the member held nothing and the partitions grew");
    assert!(unready.contains("no partition"), "{unready}");
    // Held nothing for the limit (judged on a probe, every half limit), then the rejoin.
    assert!(progress < LIMIT * 3, "progress after {progress:?}");
    wait_until("/ready once the member reads", PATIENCE, || async {
        match ready(&http, port).await {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let produced = load.stop().await as i64;
    wait_for_rows_and_offsets(&pool, produced).await;
    member.start_kill().expect("SIGKILL");
}
