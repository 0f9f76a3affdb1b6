//! The lake browser in a real headless Chromium (Debian's, through chromedriver), against a table
//! with three versions on the stack's S3 store, as a person would use it: the overview and its
//! freshness, history followed to an older version and its row count, a SQL query typed into the
//! console as of that version, an example query chosen, run and charted, the diff since, and a
//! page holding an event whose title is markup with a script handler, which must show as text
//! with no element made and no dialog opened.
//!
//! With `LAKE_BROWSER_SCREENSHOTS=<dir>` the overview, the charted example and the diff page are
//! saved there as PNGs (the README's pictures come from `LAKE_BROWSER_SCREENSHOTS=docs/images`).

use std::path::PathBuf;
use std::time::Duration;

use lakehouse_testkit::{Browser, Stack, wait_until};
use serde_json::json;

use crate::{HOSTILE_TITLE, ROWS, Served, write_versions};

/// The digits of an element's text (`1 234` → 1234), once the page holding it has loaded (a
/// click that submits a form returns before the next page is there).
async fn number(browser: &Browser, selector: &str) -> u64 {
    let element = wait_until(selector, Duration::from_secs(20), || async {
        browser.find(selector).await.map_err(|e| e.to_string())
    })
    .await;
    let text = browser.text(&element).await.expect("its text");
    text.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{selector} holds no number: {text:?}"))
}

/// Clicks the element `selector` finds, which must be there.
pub(crate) async fn click(browser: &Browser, selector: &str) {
    let element = browser
        .find(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"));
    browser
        .click(&element)
        .await
        .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
}

/// No dialog is open (a script that ran would have opened one).
async fn no_dialog(browser: &Browser, page: &str) {
    let dialog = browser.alert_text().await.expect("the dialog state");
    assert_eq!(dialog, None, "a dialog opened on {page}");
}

async fn screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    if let Some(dir) = std::env::var_os("LAKE_BROWSER_SCREENSHOTS") {
        let path = PathBuf::from(dir).join(name);
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_browses_versions_queries_and_diffs_in_chromium() {
    let stack = Stack::from_env();
    let served = Served::s3_lake(&stack, "lake-browser", async |location| {
        write_versions(location).await
    })
    .await;
    let base = served.base.clone();
    let browser = Browser::start().await;

    // The overview of the latest version.
    browser.goto(&format!("{base}/")).await.expect("the overview");
    assert_eq!(number(&browser, "#rows").await, ROWS[2]);
    assert_eq!(number(&browser, "#version").await, 3);
    assert!(browser.title().await.expect("a title").contains("Version 3"));
    let freshness = browser.find("#freshness").await.expect("the freshness line");
    let freshness = browser.text(&freshness).await.expect("its text");
    assert!(
        freshness.starts_with("Newest event received 2026-") && freshness.contains("last commit"),
        "{freshness}"
    );
    screenshot(&browser, "lake-browser-overview.png").await;

    // History, then version 1 from it: its row count.
    click(&browser, "header nav a[href='/history']").await;
    assert!(browser.current_url().await.expect("a URL").ends_with("/history"));
    click(&browser, "#v1 a.version").await;
    assert_eq!(number(&browser, "#version").await, 1);
    assert_eq!(number(&browser, "#rows").await, ROWS[0]);

    // The console at version 1 (its link in the history), the query typed in and run.
    browser
        .goto(&format!("{base}/history"))
        .await
        .expect("the history");
    click(&browser, "#v1 td.links a[href^='/sql']").await;
    browser
        .execute(
            "document.querySelector('textarea[name=q]').value = arguments[0];",
            vec![json!("SELECT count(*) AS n FROM events")],
        )
        .await
        .expect("typing the query");
    click(&browser, "form.console button[type=submit]").await;
    assert_eq!(number(&browser, "#at-version").await, 1);
    assert_eq!(number(&browser, "#results tbody td").await, ROWS[0]);

    // An example from the console's list: it fills the box, runs, and its result is charted.
    browser.goto(&format!("{base}/sql")).await.expect("the console");
    click(&browser, "#examples a[href='/sql?example=per-day']").await;
    wait_until("the example's page", Duration::from_secs(20), || async {
        let url = browser.current_url().await.map_err(|e| e.to_string())?;
        url.ends_with("example=per-day").then_some(()).ok_or(url)
    })
    .await;
    let query = browser
        .execute("return document.querySelector('textarea[name=q]').value;", vec![])
        .await
        .expect("the query box");
    assert!(
        query
            .as_str()
            .is_some_and(|sql| sql.contains("count(DISTINCT session_id)")),
        "the box holds the example: {query}"
    );
    click(&browser, "form.console button[type=submit]").await;
    assert!(number(&browser, "#row-count").await > 0);
    let charts = browser
        .find_all("#result-charts figure svg")
        .await
        .expect("the result's charts");
    assert_eq!(charts.len(), 2, "events and sessions per day");
    screenshot(&browser, "lake-browser-sql-chart.png").await;

    // What changed since version 1: the diff.
    browser
        .goto(&format!("{base}/?version=1"))
        .await
        .expect("version 1");
    click(&browser, "#since").await;
    assert_eq!(number(&browser, "#rows-added").await, ROWS[2] - ROWS[0]);
    assert_eq!(number(&browser, "#rows-removed").await, 0);
    screenshot(&browser, "lake-browser-diff.png").await;

    // A stranger's title: shown as text, no element made from it, no script run.
    let sql = "SELECT title, url FROM events WHERE title LIKE '%onerror%'";
    let encoded: String = url::form_urlencoded::byte_serialize(sql.as_bytes()).collect();
    browser
        .goto(&format!("{base}/sql?q={encoded}"))
        .await
        .expect("the console");
    no_dialog(&browser, "the console").await;
    let cell = browser.find("#results tbody td").await.expect("the title cell");
    assert_eq!(browser.text(&cell).await.expect("its text"), HOSTILE_TITLE);
    let images = browser
        .execute("return document.images.length;", vec![])
        .await
        .expect("a count of images");
    assert_eq!(images, json!(0), "the title became an element");
    for page in ["/", "/diff?from=1&to=2", "/history"] {
        browser.goto(&format!("{base}{page}")).await.expect("a page");
        no_dialog(&browser, page).await;
    }

    browser.quit().await;
    served.stop().await;
}
