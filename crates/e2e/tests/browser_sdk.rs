//! The browser SDK (`sdk/js`) in a real headless Chromium against the real api, broker and
//! warehouse (issue 19): every event a page creates is in the warehouse exactly once, none lost,
//! none duplicated, through the three ways events leave a page.
//!
//! 1. Beacon: a page tracks events and navigates away before its batch is due; the events leave by
//!    `navigator.sendBeacon` only (the page counts its beacons and fetches).
//! 2. Broker outage: the broker hangs (SIGSTOP) while a page tracks; the api answers 503 and the SDK
//!    retries the same `event_id`s until the broker resumes.
//! 3. Reload: a page tracks during an outage and is reloaded; the next page finds the events in
//!    localStorage and delivers them.
//!
//! The api and the stream-processor run as child processes. The SDK must be built first
//! (`npm ci && npm run build` in `sdk/js`; `scripts/test` does it). The test freezes the stack's
//! shared broker, so it is its own test target and its only test.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use lakehouse_e2e::services::{binary, free_port, wait_until_ready};
use lakehouse_testkit::{
    Browser, Frozen, Part, Stack, TempDatabase, TestTopic, message_count, spawn_service, unique, wait_until,
};
use serde_json::Value;
use sqlx::PgPool;
use tokio::process::{Child, Command};
use uuid::Uuid;

const API_KEY: &str = "browser-test-key";
const PATIENCE: Duration = Duration::from_secs(90);

/// The page that loads the SDK. It counts, in localStorage, how its events leave (so that the
/// page after it can tell), and records the status of every answer the SDK's fetches get.
const SDK_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1>
<script>
  const count = (key) => localStorage.setItem(key, String(Number(localStorage.getItem(key) || 0) + 1));
  const sendBeacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => { count("test:beacons"); return sendBeacon(url, data); };
  const realFetch = window.fetch;
  window.statuses = [];
  window.fetch = (...args) => {
    count("test:fetches");
    return realFetch(...args).then(
      (r) => { window.statuses.push(r.status); return r; },
      (e) => { window.statuses.push(0); throw e; });
  };
</script>
<script src="/lakehouse.min.js"></script>
<script>
  const flush = Number(new URLSearchParams(location.search).get("flush") || 500);
  window.lh = lakehouse.init({ endpoint: "__ENDPOINT__", apiKey: "__KEY__", flushInterval: flush });
</script>
</body></html>"#;

/// Where a person goes next: the same site, without the SDK.
const AWAY_PAGE: &str =
    "<!doctype html><html><head><title>Away</title></head><body><p>Elsewhere.</p></body></html>";

/// The built SDK of the checkout the test runs in (found at run time, not where the test binary
/// was compiled).
fn sdk_script() -> PathBuf {
    let path = lakehouse_testkit::repo::path("sdk/js/dist/lakehouse.min.js");
    assert!(
        path.exists(),
        "{} is missing: build the SDK first (`cd sdk/js && npm ci && npm run build`; scripts/test does)",
        path.display()
    );
    path
}

/// Serves the pages and the built SDK on a port of its own (the pages' origin).
async fn serve_pages(endpoint: &str) -> String {
    #[derive(Clone)]
    struct Site {
        page: String,
        script: Vec<u8>,
    }
    let site = Site {
        page: SDK_PAGE
            .replace("__ENDPOINT__", endpoint)
            .replace("__KEY__", API_KEY),
        script: std::fs::read(sdk_script()).expect("the built SDK"),
    };
    let app = Router::new()
        .route(
            "/shop.html",
            get(|State(site): State<Site>| async move { Html(site.page) }),
        )
        .route("/away.html", get(|| async { Html(AWAY_PAGE) }))
        .route(
            "/lakehouse.min.js",
            get(|State(site): State<Site>| async move {
                ([(header::CONTENT_TYPE, "text/javascript")], site.script).into_response()
            }),
        )
        .with_state(site);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the pages");
    let origin = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// The api and the stream-processor, as processes, on the test's own topic and database.
struct Services {
    endpoint: String,
    _children: Vec<Child>,
}

impl Services {
    async fn start(stack: &Stack, topic: &TestTopic, database: &TempDatabase) -> Self {
        let port = free_port();
        let mut api = Command::new(binary("lakehouse-api"));
        api.args(topic.flags(stack))
            .args([
                format!("--listen-addr=127.0.0.1:{port}"),
                "--produce-timeout-ms=1500".into(),
                "--visitor-id-secret-ephemeral".into(),
            ])
            .env("API_KEYS", format!("browser:{API_KEY}"));
        let mut processor = Command::new(binary("lakehouse-stream-processor"));
        processor
            .args(topic.flags(stack))
            .args([
                format!("--group-id={}", unique("browser-warehouse")),
                "--metrics-addr=127.0.0.1:0".into(),
                "--flush-max-age-ms=200".into(),
            ])
            .env("DATABASE_URL", &database.url);
        let children = vec![
            spawn_service(&mut api, "the api"),
            spawn_service(&mut processor, "the stream-processor"),
        ];
        wait_until_ready(&format!("http://127.0.0.1:{port}")).await;
        Self {
            endpoint: format!("http://127.0.0.1:{port}/analytics"),
            _children: children,
        }
    }
}

/// Runs `script` in the page, panicking with the page's console when the browser refuses.
async fn run(browser: &Browser, script: &str) -> Value {
    match browser.execute(script, vec![]).await {
        Ok(value) => value,
        Err(error) => panic!(
            "{script}: {error}; the console: {:?}",
            browser.console().await.unwrap_or_default()
        ),
    }
}

/// The ids a script returned (an array of the SDK's `track` results).
fn ids(value: &Value) -> Vec<Uuid> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("an array of ids: {value}"))
        .iter()
        .map(|id| {
            id.as_str()
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("a UUID: {id}"))
        })
        .collect()
}

/// Tracks one event of each kind the SDK makes; returns their ids.
async fn track_some(browser: &Browser, label: &str) -> Vec<Uuid> {
    let script = format!(
        r#"return [
            lh.page({{ phase: "{label}" }}),
            lh.track("click", {{ phase: "{label}", button: "buy" }}, {{ event_name: "buy" }}),
            lh.step("checkout", 1, {{ phase: "{label}" }}),
            lh.track("conversion", {{ phase: "{label}" }}, {{ value: 49.5 }}),
        ];"#
    );
    ids(&run(browser, &script).await)
}

/// How many 503 answers the page's SDK has had so far.
async fn answers_503(browser: &Browser) -> usize {
    let statuses = run(browser, "return window.statuses;").await;
    statuses
        .as_array()
        .map_or(0, |all| all.iter().filter(|s| s.as_u64() == Some(503)).count())
}

/// Waits until the page's SDK has had a 503 more than `before`.
async fn wait_for_503(browser: &Browser, before: usize) {
    wait_until("a 503 from the api (the broker hangs)", PATIENCE, || async move {
        let now = answers_503(browser).await;
        if now > before {
            Ok(())
        } else {
            Err(format!("{now} 503s"))
        }
    })
    .await;
}

/// Waits until the page's queue is empty: every event acknowledged (or refused, which fails).
async fn wait_for_empty_queue(browser: &Browser) -> Value {
    let stats = wait_until("the SDK's queue to empty", PATIENCE, || async move {
        let stats = run(browser, "return lh.stats();").await;
        if stats["queued"] == 0 {
            Ok(stats)
        } else {
            Err(stats.to_string())
        }
    })
    .await;
    assert_eq!(stats["refused"], 0, "the api refused events: {stats}");
    assert_eq!(stats["dropped"], 0, "the SDK dropped events: {stats}");
    stats
}

/// Waits until the warehouse holds exactly `expected`, each once, and its rollups count each once.
async fn wait_for_warehouse(pool: &PgPool, expected: &BTreeSet<Uuid>, what: &str) {
    wait_until(
        &format!("the {} events {what} in the warehouse, each once", expected.len()),
        PATIENCE,
        || async move {
            let rows: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM events")
                .fetch_all(pool)
                .await
                .map_err(|e| e.to_string())?;
            let distinct: BTreeSet<Uuid> = rows.iter().copied().collect();
            let counted: Option<i64> =
                sqlx::query_scalar("SELECT sum(events)::bigint FROM event_rollups_minute")
                    .fetch_one(pool)
                    .await
                    .map_err(|e| e.to_string())?;
            if rows.len() == expected.len() && &distinct == expected && counted == Some(rows.len() as i64) {
                Ok(())
            } else {
                Err(format!(
                    "{} rows, {} distinct, {} missing, {} unexpected, rollups count {counted:?}",
                    rows.len(),
                    distinct.len(),
                    expected.difference(&distinct).count(),
                    distinct.difference(expected).count()
                ))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_a_page_creates_is_in_the_warehouse_once_through_unload_outage_and_reload() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let services = Services::start(&stack, &topic, &database).await;
    let origin = serve_pages(&services.endpoint).await;
    let pool = PgPool::connect(&database.url).await.expect("the test database");
    let browser = Browser::start().await;
    let mut expected = BTreeSet::new();

    // 1. Beacon: the batch is due in a minute, but the person leaves after a moment.
    browser
        .goto(&format!("{origin}/shop.html?flush=600000"))
        .await
        .expect("the shop page opens");
    let created = track_some(&browser, "beacon").await;
    browser
        .goto(&format!("{origin}/away.html"))
        .await
        .expect("the next page opens");
    let left = run(
        &browser,
        "return [localStorage.getItem('test:beacons'), localStorage.getItem('test:fetches')];",
    )
    .await;
    assert_ne!(left[0], Value::Null, "the page sent a beacon as it went: {left}");
    assert_eq!(
        left[1],
        Value::Null,
        "and no fetch: the beacon alone carried the events"
    );
    expected.extend(created);
    wait_for_warehouse(&pool, &expected, "sent by beacon").await;
    run(&browser, "localStorage.clear(); return null;").await;

    // 2. Broker outage: events tracked before, during and after it.
    browser
        .goto(&format!("{origin}/shop.html"))
        .await
        .expect("the shop page opens");
    let before = track_some(&browser, "before outage").await;
    expected.extend(before);
    wait_for_empty_queue(&browser).await;
    let frozen = Frozen::freeze(Part::Tansu);
    expected.extend(track_some(&browser, "outage").await);
    wait_for_503(&browser, 0).await;
    expected.extend(track_some(&browser, "outage, later").await);
    drop(frozen);
    expected.extend(track_some(&browser, "after outage").await);
    let stats = wait_for_empty_queue(&browser).await;
    assert!(stats["retries"].as_u64() >= Some(1), "the SDK retried: {stats}");
    wait_for_warehouse(&pool, &expected, "tracked through a broker outage").await;

    // 3. Reload: events the api could not take are stored, and the reloaded page delivers them.
    let seen = answers_503(&browser).await;
    let frozen = Frozen::freeze(Part::Tansu);
    let stored = track_some(&browser, "before reload").await;
    wait_for_503(&browser, seen).await;
    let kept = run(
        &browser,
        "return JSON.parse(localStorage.getItem('lh:q:__KEY__')).q.length;"
            .replace("__KEY__", API_KEY)
            .as_str(),
    )
    .await;
    assert_eq!(
        kept,
        stored.len(),
        "the unacknowledged events are in localStorage"
    );
    browser.refresh().await.expect("the page reloads");
    let adopted = run(&browser, "return lh.stats().queued;").await;
    assert_eq!(
        adopted,
        stored.len(),
        "the reloaded page took over the stored events"
    );
    drop(frozen);
    expected.extend(stored);
    wait_for_empty_queue(&browser).await;
    wait_for_warehouse(&pool, &expected, "stored across a reload").await;
    assert_eq!(
        run(
            &browser,
            "return localStorage.getItem('lh:q:__KEY__');"
                .replace("__KEY__", API_KEY)
                .as_str()
        )
        .await,
        Value::Null,
        "nothing is left stored once delivered"
    );

    let messages = message_count(&stack, &topic.name, Duration::from_secs(30)).await;
    eprintln!(
        "[browser] {} events created, each once in the warehouse; the topic holds {messages} messages \
         (beacons and retries the warehouse deduplicated)",
        expected.len()
    );
    assert!(messages >= expected.len() as i64);
    browser.quit().await;
    pool.close().await;
}
