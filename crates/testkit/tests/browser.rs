//! The WebDriver client against a real headless Chromium: each command on a page made for it.

use std::time::Duration;

use lakehouse_testkit::Browser;
use serde_json::json;

const PAGE: &str = "<!doctype html><title>Hello</title><h1 id=greeting>Hello, lake</h1>\
    <ul><li>one</li><li>two</li></ul><button onclick=\"alert('clicked')\">Go</button>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_opens_reads_runs_script_screenshots_and_sees_dialogs() {
    let browser = Browser::start().await;
    let url = format!("data:text/html,{}", PAGE.replace('#', "%23"));
    browser.goto(&url).await.expect("the page opens");
    assert_eq!(browser.title().await.expect("a title"), "Hello");
    assert!(
        browser
            .current_url()
            .await
            .expect("a URL")
            .starts_with("data:text/html")
    );

    let greeting = browser.find("#greeting").await.expect("the heading");
    assert_eq!(browser.text(&greeting).await.expect("its text"), "Hello, lake");
    assert_eq!(browser.find_all("li").await.expect("the items").len(), 2);
    let missing = browser.find("#nowhere").await.expect_err("no such element");
    assert_eq!(missing.error, "no such element");

    let sum = browser.execute("return 1 + arguments[0];", vec![json!(41)]).await;
    assert_eq!(sum.expect("a value"), json!(42));
    let later = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; setTimeout(() => done('later'), 10);",
            vec![],
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(later.expect("a value"), json!("later"));
    browser
        .execute("console.warn('a note for the test');", vec![])
        .await
        .expect("the script runs");
    let console = browser.console().await.expect("the console");
    assert!(
        console.iter().any(|line| line.contains("a note for the test")),
        "{console:?}"
    );

    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");

    assert_eq!(browser.alert_text().await.expect("no dialog"), None);
    let button = browser.find("button").await.expect("the button");
    browser.click(&button).await.expect("a click");
    assert_eq!(
        browser.alert_text().await.expect("a dialog"),
        Some("clicked".to_string())
    );
    browser.dismiss_alert().await.expect("dismissed");
    assert_eq!(browser.alert_text().await.expect("no dialog"), None);
    browser.quit().await;
}
