//! A lake of several tables (`<lake>/events` and three projects' tables, DESIGN.md §8.6): the
//! table list shows each, every page opened on a table shows that table's rows, versions and
//! changes, a restore restores the chosen table only (its confirmation binds the table), and a
//! hostile or unknown table name is a 4xx naming the `table` parameter, with no folder made for
//! it. Through the router on a local lake, and in Chromium on the stack's S3 store.

use std::time::Duration;

use axum::http::StatusCode;
use lakehouse_lake::{AsOf, TablePath, open_at};
use lakehouse_lake_browser::Settings;
use lakehouse_testkit::{Browser, Stack, wait_until};
use serde_json::json;

use crate::headless::click;
use crate::pages::{digits, encode, form_fields, get, post_restore_to, router, text_of};
use crate::{LocalLake, ROUTED, Served, write_routed};

/// Rows the latest commit of each table of [`ROUTED`] added, in its order.
const LAST_ADDED: [u64; 4] = [30, 3, 12, 10];

/// How many `<tr id="v…">` rows a history page shows.
fn versions_listed(body: &str) -> u64 {
    body.matches("<tr id=\"v").count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_opens_the_chosen_table() {
    let lake = LocalLake::routed().await;
    let router = router(&lake, Settings::default());

    let list = get(&router, "/tables").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    for (name, _, _) in ROUTED {
        assert!(
            list.body.contains(&format!("data-table=\"{name}\"")),
            "{name} is listed: {}",
            list.body
        );
        assert!(
            list.body
                .contains(&format!("href=\"/history?table={}\"", encode(name)))
                || name == "events",
            "{name}'s history is linked: {}",
            list.body
        );
    }
    assert!(
        list.body.contains("projects/a_2F_2E_2E_2Fb"),
        "the folder the hostile id is encoded to: {}",
        list.body
    );

    for ((name, version, rows), last_added) in ROUTED.into_iter().zip(LAST_ADDED) {
        let table = if name == "events" {
            String::new()
        } else {
            format!("table={}&", encode(name))
        };
        let overview = get(&router, &format!("/?{table}")).await;
        assert_eq!(overview.status, StatusCode::OK, "{name}: {}", overview.body);
        assert_eq!(text_of(&overview.body, "table-name"), name);
        assert_eq!(digits(&text_of(&overview.body, "version")), version, "{name}");
        assert_eq!(digits(&text_of(&overview.body, "rows")), rows, "{name}");
        let history = get(&router, &format!("/history?{table}")).await;
        assert_eq!(versions_listed(&history.body), version + 1, "{name}");
        let sql = get(
            &router,
            &format!("/sql?{table}q={}", encode("SELECT event_id FROM events")),
        )
        .await;
        assert_eq!(sql.status, StatusCode::OK, "{name}: {}", sql.body);
        assert_eq!(digits(&text_of(&sql.body, "row-count")), rows, "{name}");
        let diff = get(&router, &format!("/diff?{table}")).await;
        assert_eq!(digits(&text_of(&diff.body, "rows-added")), last_added, "{name}");
        let preview = get(&router, &format!("/restore?{table}version={}", version - 1)).await;
        assert_eq!(
            digits(&text_of(&preview.body, "rows-removed")),
            last_added,
            "{name}"
        );
        if name != "events" {
            // Every page's navigation, and the links within it, stay on the table.
            for page in [&overview, &history, &sql, &diff, &preview] {
                assert!(
                    page.body
                        .contains(&format!("href=\"/sql?table={}\"", encode(name))),
                    "{name}: {}",
                    page.body
                );
            }
            assert!(
                history
                    .body
                    .contains(&format!("href=\"/?table={}&amp;version=0\"", encode(name)))
            );
        }
    }
    let download = get(
        &router,
        &format!(
            "/sql/download?table={}&format=csv&q={}",
            encode("projects/shop"),
            encode("SELECT count(*) AS n FROM events")
        ),
    )
    .await;
    assert_eq!(download.body.lines().nth(1), Some("30"), "{}", download.body);
    assert_eq!(
        download.headers["content-disposition"],
        "attachment; filename=\"projects-shop-v2.csv\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_or_unknown_table_is_refused_naming_the_parameter() {
    let lake = LocalLake::routed().await;
    let router = router(
        &lake,
        Settings {
            allow_restore: true,
            ..Settings::default()
        },
    );
    let long = format!("projects/{}", "x".repeat(3_000));
    let cases = [
        ("../x", StatusCode::BAD_REQUEST),
        ("/etc/passwd", StatusCode::BAD_REQUEST),
        ("tables/../../etc", StatusCode::BAD_REQUEST),
        ("events/../../x", StatusCode::BAD_REQUEST),
        (long.as_str(), StatusCode::BAD_REQUEST),
        // A project id as sent: encoded into one folder, which the lake does not hold.
        ("projects/a/../../b", StatusCode::NOT_FOUND),
        ("projects/nope", StatusCode::NOT_FOUND),
        ("tables/nope", StatusCode::NOT_FOUND),
    ];
    for (table, status) in &cases {
        for page in [
            "/",
            "/history",
            "/diff",
            "/sql?q=SELECT+1",
            "/sql/download?q=SELECT+1",
            "/restore?version=0",
        ] {
            let separator = if page.contains('?') { '&' } else { '?' };
            let uri = format!("{page}{separator}table={}", encode(table));
            let answer = get(&router, &uri).await;
            assert_eq!(answer.status, *status, "{uri}: {}", answer.body);
            assert!(
                text_of(&answer.body, "error").starts_with("table: "),
                "{uri} names the parameter: {}",
                answer.body
            );
        }
    }
    let posted = post_restore_to(
        &router,
        &format!("/restore?table={}", encode("../x")),
        &[
            ("from", "2"),
            ("to", "1"),
            ("signature", "00"),
            ("name", "sre"),
            ("confirm", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
    .await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{}", posted.body);
    for unknown in ["projects/nope", "projects/a_2F_2E_2E_2F_2E_2E_2Fb", "tables/nope"] {
        assert!(
            !lake.dir.join(unknown).exists(),
            "asking about {unknown} made its folder"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_restores_the_chosen_table_only() {
    let lake = LocalLake::routed().await;
    let router = router(
        &lake,
        Settings {
            allow_restore: true,
            ..Settings::default()
        },
    );
    let shop = format!("/restore?table={}", encode("projects/shop"));
    let preview = get(&router, &format!("{shop}&version=1")).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains(&format!("action=\"{shop}\"")),
        "the confirmation posts to the table's restore: {}",
        preview.body
    );
    let mut fields = form_fields(&preview.body);
    fields.extend([("name", "sre"), ("confirm", "1")].map(|(k, v)| (k.to_string(), v.to_string())));
    // The other project's table is at version 2 too, but shop's confirmation does not restore it.
    let elsewhere = post_restore_to(
        &router,
        &format!("/restore?table={}", encode("projects/a/../b")),
        &fields,
        None,
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{}", elsewhere.body);

    let done = post_restore_to(&router, &shop, &fields, None).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let latest = |table: &str| {
        let location = table
            .parse::<TablePath>()
            .expect("a table")
            .location(&lake.location);
        async move {
            let table = open_at(&location, &AsOf::default()).await.expect("the table");
            let rows = lakehouse_lake::table_stats(&table).await.expect("its stats").rows;
            (table.version(), rows)
        }
    };
    assert_eq!(latest("projects/shop").await, (Some(3), 20), "shop restored");
    for (name, version, rows) in ROUTED.into_iter().filter(|(name, ..)| *name != "projects/shop") {
        assert_eq!(latest(name).await, (Some(version), rows), "{name} untouched");
    }
}

/// The digits of the element at `selector` once the page shows the table `name` (a click returns
/// before the next page is there, and the page before showed another table's numbers).
async fn number_of(browser: &Browser, name: &str, selector: &str) -> u64 {
    wait_until(
        &format!("{selector} of {name}"),
        Duration::from_secs(20),
        || async {
            let shown = browser.find("#table").await.map_err(|e| e.to_string())?;
            let shown = browser.text(&shown).await.map_err(|e| e.to_string())?;
            if shown != name {
                return Err(format!("the page shows {shown}"));
            }
            let element = browser.find(selector).await.map_err(|e| e.to_string())?;
            let text = browser.text(&element).await.map_err(|e| e.to_string())?;
            text.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u64>()
                .map_err(|_| format!("{selector} holds no number: {text:?}"))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_picks_each_table_in_chromium() {
    let stack = Stack::from_env();
    let served = Served::s3_lake(&stack, "lake-browser-tables", async |location| {
        write_routed(location).await
    })
    .await;
    let base = served.base.clone();
    let browser = Browser::start().await;

    for (name, version, rows) in ROUTED {
        // The list, from any page's navigation; the table picked from it.
        browser.goto(&format!("{base}/")).await.expect("the overview");
        click(&browser, "header nav a[href='/tables']").await;
        let row = format!("#tables tr[data-table='{name}']");
        wait_until(&row, Duration::from_secs(20), || async {
            browser.find(&row).await.map_err(|e| e.to_string())
        })
        .await;
        let listed = browser.find_all("#tables tbody tr").await.expect("the tables");
        assert_eq!(listed.len(), ROUTED.len(), "every table is listed");
        click(&browser, &format!("{row} a.table")).await;
        assert_eq!(number_of(&browser, name, "#rows").await, rows, "{name}");
        assert_eq!(number_of(&browser, name, "#version").await, version, "{name}");

        // Its history from the navigation, then its oldest version.
        click(&browser, "header nav a[href^='/history']").await;
        wait_until("the history", Duration::from_secs(20), || async {
            let listed = browser
                .find_all("#history tbody tr")
                .await
                .map_err(|e| e.to_string())?;
            (listed.len() as u64 == version + 1)
                .then_some(())
                .ok_or(format!("{} versions listed", listed.len()))
        })
        .await;
        click(&browser, "#v1 a.version").await;
        assert_eq!(number_of(&browser, name, "#version").await, 1, "{name}");

        // A query typed into its console: the table's rows.
        click(&browser, "header nav a[href^='/sql']").await;
        wait_until("the console", Duration::from_secs(20), || async {
            let url = browser.current_url().await.map_err(|e| e.to_string())?;
            url.contains("/sql").then_some(()).ok_or(url)
        })
        .await;
        browser
            .execute(
                "document.querySelector('textarea[name=q]').value = arguments[0];",
                vec![json!("SELECT count(*) AS n FROM events")],
            )
            .await
            .expect("typing the query");
        click(&browser, "form.console button[type=submit]").await;
        assert_eq!(
            number_of(&browser, name, "#results tbody td").await,
            rows,
            "{name}"
        );
    }

    // A table named in the address that climbs out of its folder: an error page naming `table`.
    browser
        .goto(&format!("{base}/history?table=..%2F..%2Fetc"))
        .await
        .expect("the page");
    let error = wait_until("the error", Duration::from_secs(20), || async {
        let element = browser.find("#error").await.map_err(|e| e.to_string())?;
        browser.text(&element).await.map_err(|e| e.to_string())
    })
    .await;
    assert!(error.starts_with("table: table \"../../etc\" is not"), "{error}");
    assert!(browser.title().await.expect("a title").starts_with("Error"));

    browser.quit().await;
    served.stop().await;
}
