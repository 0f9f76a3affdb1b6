//! Every page and every refusal through the router (no server), on a table with three versions:
//! what each page shows (the overview's freshness, a query's chart, the console's examples), bad
//! versions and parameters, SQL that is not read-only, the token, the loopback-only rule,
//! cross-site posts, escaping of what strangers wrote, the security headers, and a restore
//! previewed, refused and performed.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use lakehouse_lake::{AsOf, history, open_at};
use lakehouse_lake_browser::{AppState, COOKIE, EXAMPLES, Settings, age, app};
use lakehouse_telemetry::{Health, Secret};
use lakehouse_testkit::reference_event;
use tower::ServiceExt;

use crate::{HOSTILE_TITLE, HOSTILE_TYPE, LocalLake, ROWS};

const TOKEN: &str = "a-token-of-24-characters";

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub(crate) fn router(lake: &LocalLake, settings: Settings) -> Router {
    let state =
        AppState::new(lake.location.clone(), settings, Health::new("test", &[])).expect("the query threads");
    app(state, lakehouse_telemetry::metrics::install_prometheus())
}

pub(crate) async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .expect("a body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A GET as a browser on the same machine sends it.
pub(crate) async fn get(router: &Router, uri: &str) -> Answer {
    send(
        router,
        Request::get(uri)
            .header(header::HOST, "127.0.0.1:8501")
            .body(Body::empty())
            .expect("a request"),
    )
    .await
}

pub(crate) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The text of the element with `id` (its first text, markup stripped).
pub(crate) fn text_of(body: &str, id: &str) -> String {
    let start = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let open = start + body[start..].find('>').expect("a tag end") + 1;
    let close = open + body[open..].find("</").expect("a closing tag");
    body[open..close].to_string()
}

pub(crate) fn digits(text: &str) -> u64 {
    text.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_history_and_diff_show_each_version() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());

    let latest = get(&router, "/").await;
    assert_eq!(latest.status, StatusCode::OK, "{}", latest.body);
    assert_eq!(digits(&text_of(&latest.body, "rows")), ROWS[2]);
    assert_eq!(digits(&text_of(&latest.body, "version")), 3);
    assert!(latest.body.contains("Rows per day") && latest.body.contains("<svg"));
    assert!(latest.body.contains("id=\"partitions\"") && latest.body.contains("id=\"schema\""));
    for (version, rows) in [(1, ROWS[0]), (2, ROWS[1])] {
        let older = get(&router, &format!("/?version={version}")).await;
        assert_eq!(older.status, StatusCode::OK);
        assert_eq!(digits(&text_of(&older.body, "rows")), rows, "version {version}");
        assert!(
            older.body.contains("What changed since"),
            "an older version links its diff"
        );
    }
    let as_of_now = get(
        &router,
        &format!("/?as_of={}", encode(&chrono::Utc::now().to_rfc3339())),
    )
    .await;
    assert_eq!(digits(&text_of(&as_of_now.body, "rows")), ROWS[2]);

    let history = get(&router, "/history").await;
    assert_eq!(history.status, StatusCode::OK);
    for version in 0..=3 {
        assert!(
            history.body.contains(&format!("href=\"/?version={version}\"")),
            "version {version}"
        );
    }
    assert!(history.body.contains("g-t-0</code> → 99"), "{}", history.body);
    assert!(history.body.contains("g-t-0</code> → 179"));
    let page = get(&router, "/history?from=2&limit=2").await;
    assert!(page.body.contains("id=\"v2\"") && page.body.contains("id=\"v1\""));
    assert!(!page.body.contains("id=\"v3\"") && !page.body.contains("id=\"v0\""));
    assert!(page.body.contains("id=\"older\"") && page.body.contains("id=\"newer\""));

    let diff = get(&router, "/diff?from=1&to=2").await;
    assert_eq!(diff.status, StatusCode::OK);
    assert_eq!(digits(&text_of(&diff.body, "rows-added")), ROWS[1] - ROWS[0]);
    assert_eq!(digits(&text_of(&diff.body, "rows-removed")), 0);
    let backwards = get(&router, "/diff?from=3&to=1").await;
    assert_eq!(
        digits(&text_of(&backwards.body, "rows-removed")),
        ROWS[2] - ROWS[0]
    );
    let default = get(&router, "/diff").await;
    assert!(text_of(&default.body, "summary").contains("From version 2 to version 3"));
}

/// How the pages write a time.
fn written(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_says_how_fresh_each_version_is() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());
    let table = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the table");
    let commits = history(&table, None).await.expect("the history");
    // The events of write_versions: rows 0..100 in version 1, 0..180 by version 3.
    let newest_of = |rows: u64| {
        (0..rows)
            .map(|index| reference_event(9, index).received_at)
            .max()
            .expect("rows")
    };

    for (version, rows, commit, says) in [
        (3, ROWS[2], &commits[0], "last commit"),
        (1, ROWS[0], &commits[2], "this version committed"),
    ] {
        assert_eq!(commit.version, version);
        let before = Utc::now();
        let page = get(&router, &format!("/?version={version}")).await;
        let after = Utc::now();
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let newest = newest_of(rows);
        assert_eq!(
            text_of(&page.body, "newest-received"),
            written(newest),
            "version {version}"
        );
        let received_age = text_of(&page.body, "received-age");
        assert!(
            [age(newest, before), age(newest, after)].contains(&received_age),
            "version {version}: {received_age}"
        );
        let committed = commit.timestamp.expect("a commit time");
        assert_eq!(text_of(&page.body, "commit-time"), written(committed));
        let commit_age = text_of(&page.body, "commit-age");
        assert!(
            [age(committed, before), age(committed, after)].contains(&commit_age),
            "version {version}: {commit_age}"
        );
        assert!(
            page.body.contains(&format!("{says} <time id=\"commit-time\"")),
            "{}",
            page.body
        );
    }
    assert_ne!(
        newest_of(ROWS[0]),
        newest_of(ROWS[2]),
        "the versions differ in their newest event, so the test tells them apart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_with_a_label_and_numbers_is_charted() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());
    let sql = |sql: &str| format!("/sql?q={}", encode(sql));

    let per_type = get(
        &router,
        &sql("SELECT event_type, count(*) AS events FROM events GROUP BY event_type ORDER BY events DESC"),
    )
    .await;
    assert_eq!(per_type.status, StatusCode::OK, "{}", per_type.body);
    assert!(
        per_type.body.contains("id=\"result-charts\""),
        "{}",
        per_type.body
    );
    assert_eq!(per_type.body.matches("<svg").count(), 1);
    assert!(per_type.body.contains("events by event_type"));
    let chart = &per_type.body[per_type.body.find("<svg").expect("a chart")..];
    let bars = chart[..chart.find("</svg>").expect("its end")]
        .matches("<rect")
        .count();
    assert_eq!(
        bars as u64,
        digits(&text_of(&per_type.body, "row-count")),
        "a bar per row"
    );

    let two = get(
        &router,
        &sql("SELECT event_date, count(*) AS events, sum(value) AS revenue FROM events GROUP BY event_date"),
    )
    .await;
    assert_eq!(two.body.matches("<svg").count(), 2, "a chart per numeric column");

    for shapeless in [
        "SELECT event_id, title FROM events LIMIT 5",
        "SELECT count(*) AS n FROM events",
        "SELECT event_type, path, count(*) AS n FROM events GROUP BY event_type, path",
        "SELECT event_type, count(*) AS n FROM events WHERE event_type = 'none' GROUP BY event_type",
    ] {
        let answer = get(&router, &sql(shapeless)).await;
        assert_eq!(answer.status, StatusCode::OK, "{shapeless}: {}", answer.body);
        assert!(answer.body.contains("id=\"results\""), "{shapeless}");
        assert!(
            !answer.body.contains("<svg") && !answer.body.contains("result-charts"),
            "{shapeless}: {}",
            answer.body
        );
    }
}

/// Text as maud writes it into a page.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_query_is_offered_and_runs() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());
    let console = get(&router, "/sql?version=2").await;
    assert!(
        console.body.contains(&escaped(EXAMPLES[0].sql)),
        "the box holds the first example"
    );
    for example in EXAMPLES {
        assert!(
            console
                .body
                .contains(&format!("href=\"/sql?example={}&amp;version=2\"", example.name)),
            "{}: {}",
            example.name,
            console.body
        );

        let offered = get(&router, &format!("/sql?example={}", example.name)).await;
        assert_eq!(offered.status, StatusCode::OK, "{}", offered.body);
        assert!(
            offered.body.contains(&format!(
                "spellcheck=\"false\">{}</textarea>",
                escaped(example.sql)
            )),
            "{}: {}",
            example.name,
            offered.body
        );
        assert!(!offered.body.contains("id=\"results\""), "offered, not run");

        let ran = get(&router, &format!("/sql?q={}", encode(example.sql))).await;
        assert_eq!(ran.status, StatusCode::OK, "{}: {}", example.name, ran.body);
        assert!(
            digits(&text_of(&ran.body, "row-count")) > 0,
            "{}: {}",
            example.name,
            ran.body
        );
        assert_eq!(
            ran.body.contains("id=\"result-charts\""),
            example.name != "latest",
            "{}: every example but the latest events is charted",
            example.name
        );
    }
    let funnel = get(
        &router,
        &format!(
            "/sql/download?format=csv&q={}",
            encode(EXAMPLES.iter().find(|e| e.name == "funnel").expect("funnel").sql)
        ),
    )
    .await;
    let steps: Vec<&str> = funnel
        .body
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap_or_default())
        .collect();
    assert!(
        !steps.is_empty()
            && steps
                .iter()
                .all(|step| (1..=4).contains(&step.parse::<u64>().unwrap_or(0))),
        "the steps read from properties are 1 to 4: {}",
        funnel.body
    );

    let unknown = get(&router, "/sql?example=nope").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        text_of(&unknown.body, "error").contains("there is no example &quot;nope&quot;: there are per-type"),
        "{}",
        unknown.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_versions_and_parameters_are_refused_with_what_exists() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());
    for (uri, status, says) in [
        (
            "/?version=9",
            StatusCode::NOT_FOUND,
            "there is no version 9: the latest is 3",
        ),
        (
            "/?version=abc",
            StatusCode::BAD_REQUEST,
            "version must be a version number",
        ),
        (
            "/?version=-1",
            StatusCode::BAD_REQUEST,
            "version must be a version number",
        ),
        (
            "/?as_of=yesterday",
            StatusCode::BAD_REQUEST,
            "as_of must be a time",
        ),
        (
            "/?as_of=2001-01-01T00:00:00Z",
            StatusCode::NOT_FOUND,
            "no version was committed by",
        ),
        (
            "/diff?from=1&to=7",
            StatusCode::NOT_FOUND,
            "there is no version 7",
        ),
        (
            "/diff?from=x",
            StatusCode::BAD_REQUEST,
            "from must be a version number",
        ),
        (
            "/history?from=12",
            StatusCode::NOT_FOUND,
            "there is no version 12",
        ),
        (
            "/sql?q=SELECT+1&version=4",
            StatusCode::NOT_FOUND,
            "there is no version 4",
        ),
        (
            "/restore?version=5",
            StatusCode::NOT_FOUND,
            "there is no version 5",
        ),
        ("/nowhere", StatusCode::NOT_FOUND, "there is no such page"),
    ] {
        let answer = get(&router, uri).await;
        assert_eq!(answer.status, status, "{uri}: {}", answer.body);
        assert!(answer.body.contains(says), "{uri}: {}", answer.body);
    }
    let nothing = LocalLake {
        location: lakehouse_lake::LakeLocation::new(
            std::env::temp_dir()
                .join(lakehouse_testkit::unique("no-lake"))
                .display()
                .to_string(),
        ),
        dir: std::env::temp_dir().join("unused"),
    };
    let empty = get(&self::router(&nothing, Settings::default()), "/").await;
    assert_eq!(empty.status, StatusCode::NOT_FOUND);
    assert!(
        empty
            .body
            .contains("table: there is no table &quot;events&quot; in this lake"),
        "{}",
        empty.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_runs_reads_and_refuses_writes() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());

    let empty = get(&router, "/sql").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("<textarea") && !empty.body.contains("id=\"results\""));

    let counted = get(
        &router,
        &format!("/sql?q={}&version=1", encode("SELECT count(*) AS n FROM events")),
    )
    .await;
    assert_eq!(counted.status, StatusCode::OK, "{}", counted.body);
    assert!(counted.body.contains("<td>100</td>"), "{}", counted.body);
    assert_eq!(text_of(&counted.body, "at-version"), "1");

    let limited = router_with_rows(&lake, 7);
    let some = get(
        &limited,
        &format!("/sql?q={}", encode("SELECT event_id FROM events")),
    )
    .await;
    assert_eq!(digits(&text_of(&some.body, "row-count")), 7);
    assert!(some.body.contains("the row limit"), "{}", some.body);

    let csv = get(
        &router,
        &format!(
            "/sql/download?format=csv&version=2&q={}",
            encode("SELECT count(*) AS n FROM events")
        ),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.body, "n\n150\n");
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("text")
            .starts_with("text/csv")
    );
    assert_eq!(
        csv.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"events-v2.csv\""
    );
    let json = get(
        &router,
        &format!(
            "/sql/download?format=json&q={}",
            encode("SELECT count(*) AS n FROM events")
        ),
    )
    .await;
    assert_eq!(json.body.trim(), r#"{"n":180}"#);
    let bad_format = get(&router, "/sql/download?format=xml&q=SELECT+1").await;
    assert_eq!(bad_format.status, StatusCode::BAD_REQUEST);

    let written = lake.dir.join("copied.csv");
    for (sql, says) in [
        (
            format!("COPY (SELECT * FROM events) TO '{}'", written.display()),
            "COPY ... TO (it writes files) is not allowed",
        ),
        (
            "CREATE EXTERNAL TABLE p (l VARCHAR) STORED AS CSV LOCATION '/etc/passwd'".into(),
            "CREATE EXTERNAL TABLE",
        ),
        ("DROP TABLE events".into(), "DROP TABLE is not allowed"),
        ("DELETE FROM events".into(), "DELETE FROM is not allowed"),
        (
            "SET datafusion.execution.batch_size = 1".into(),
            "SET is not allowed",
        ),
        ("SELECT 1; SELECT 2".into(), "only one statement"),
    ] {
        for uri in [
            format!("/sql?q={}", encode(&sql)),
            format!("/sql/download?q={}", encode(&sql)),
        ] {
            let refused = get(&router, &uri).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{sql}");
            assert!(refused.body.contains(says), "{sql}: {}", refused.body);
        }
    }
    assert!(!written.exists(), "a refused COPY wrote {}", written.display());
    let typo = get(&router, &format!("/sql?q={}", encode("SELECT nope FROM events"))).await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(text_of(&typo.body, "error").contains("nope"), "{}", typo.body);
    let latest = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(latest.version(), Some(3), "nothing was committed");
}

fn router_with_rows(lake: &LocalLake, page_rows: usize) -> Router {
    router(
        lake,
        Settings {
            page_rows,
            ..Settings::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_strangers_wrote_is_shown_as_text() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());
    let sql = "SELECT title, url, event_type FROM events WHERE title LIKE '%onerror%' OR event_type LIKE '%script%'";
    let answer = get(&router, &format!("/sql?q={}", encode(sql))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        answer.body
    );
    assert!(
        answer
            .body
            .contains("&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"),
        "{}",
        answer.body
    );
    let overview = get(&router, "/").await;
    let diff = get(&router, "/diff?from=1&to=2").await;
    for (page, body) in [
        ("sql", &answer.body),
        ("overview", &overview.body),
        ("diff", &diff.body),
    ] {
        assert!(!body.contains(HOSTILE_TITLE), "{page} holds the raw title");
        assert!(!body.contains(HOSTILE_TYPE), "{page} holds the raw type");
        assert!(!body.contains("<script"), "{page} holds a script tag");
    }
    assert!(
        overview.body.contains("&lt;script&gt;alert(3)"),
        "the chart shows the type as text"
    );
    assert!(
        diff.body.contains("&lt;script&gt;alert(3)"),
        "the diff shows the type as text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_forbids_script_and_framing() {
    let lake = LocalLake::new().await;
    let router = router(&lake, Settings::default());
    for uri in [
        "/",
        "/history",
        "/sql?q=DROP+TABLE+events",
        "/nowhere",
        "/static/style.css",
        "/health",
    ] {
        let answer = get(&router, uri).await;
        let csp = answer.headers["content-security-policy"].to_str().expect("text");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{uri}: {csp}"
        );
        assert!(
            !csp.contains("script-src") && !csp.contains("unsafe-inline"),
            "{uri}: {csp}"
        );
        assert_eq!(answer.headers["x-frame-options"], "DENY", "{uri}");
        assert_eq!(answer.headers["x-content-type-options"], "nosniff", "{uri}");
    }
    let page = get(&router, "/").await;
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(!page.body.contains("<script"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_the_token_and_probes_do_not() {
    let lake = LocalLake::new().await;
    let guarded = router(
        &lake,
        Settings {
            token: Some(Secret::new(TOKEN)),
            ..Settings::default()
        },
    );
    let request = |uri: &str, auth: Option<&str>, cookie: Option<&str>| {
        let mut builder = Request::get(uri).header(header::HOST, "lake-browser.internal:8501");
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder.body(Body::empty()).expect("a request")
    };
    for uri in [
        "/",
        "/history",
        "/diff",
        "/sql?q=SELECT+1",
        "/sql/download?q=SELECT+1",
        "/restore?version=1",
    ] {
        let refused = send(&guarded, request(uri, None, None)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            refused.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"lake-browser\""
        );
        assert!(refused.body.contains("href=\"/login\""), "{uri}");
        let wrong = send(
            &guarded,
            request(uri, Some("Bearer a-token-of-24-characterX"), None),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let bearer = format!("Bearer {TOKEN}");
    let admitted = send(&guarded, request("/", Some(&bearer), None)).await;
    assert_eq!(admitted.status, StatusCode::OK);
    for open in ["/health", "/ready", "/metrics", "/login", "/static/style.css"] {
        let answer = send(&guarded, request(open, None, None)).await;
        assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{open}");
    }
    let metrics = send(&guarded, request("/metrics", None, None)).await;
    assert!(
        metrics.body.contains("lakehouse_lake_browser_requests_total"),
        "{}",
        metrics.body
    );

    // Signing in: a wrong token is refused, the right one sets a cookie that admits.
    let login = |token: &str| {
        Request::post("/login")
            .header(header::HOST, "lake-browser.internal:8501")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={}", encode(token))))
            .expect("a request")
    };
    let refused = send(&guarded, login("not-the-token")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.headers.get(header::SET_COOKIE).is_none());
    let signed_in = send(&guarded, login(TOKEN)).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let cookie = signed_in.headers[header::SET_COOKIE]
        .to_str()
        .expect("text")
        .to_string();
    assert!(
        cookie.starts_with(&format!("{COOKIE}=")) && !cookie.contains(TOKEN),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value");
    let with_cookie = send(&guarded, request("/history", None, Some(pair))).await;
    assert_eq!(with_cookie.status, StatusCode::OK);

    // Without a token, only requests addressed to loopback are answered (no DNS rebinding).
    let open = router(&lake, Settings::default());
    let rebound = send(&open, request("/", None, None)).await;
    assert_eq!(rebound.status, StatusCode::FORBIDDEN);
    assert!(rebound.body.contains("only requests addressed to localhost"));
    assert_eq!(get(&open, "/").await.status, StatusCode::OK);
}

/// The confirmation form's fields as the preview rendered them.
pub(crate) fn form_fields(body: &str) -> Vec<(String, String)> {
    ["from", "to", "signature"]
        .iter()
        .map(|name| {
            let marker = format!("name=\"{name}\" value=\"");
            let start = body
                .find(&marker)
                .unwrap_or_else(|| panic!("no {name} field in {body}"))
                + marker.len();
            let end = start + body[start..].find('"').expect("a value end");
            (name.to_string(), body[start..end].to_string())
        })
        .collect()
}

async fn post_restore(router: &Router, fields: &[(String, String)], origin: Option<&str>) -> Answer {
    post_restore_to(router, "/restore", fields, origin).await
}

/// The confirmation form posted to `uri` (its action, which names the table).
pub(crate) async fn post_restore_to(
    router: &Router,
    uri: &str,
    fields: &[(String, String)],
    origin: Option<&str>,
) -> Answer {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = Request::post(uri)
        .header(header::HOST, "127.0.0.1:8501")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    send(router, request.body(Body::from(body)).expect("a request")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_is_previewed_and_performed_only_when_allowed_and_confirmed() {
    let lake = LocalLake::new().await;
    let preview_only = router(&lake, Settings::default());
    let preview = get(&preview_only, "/restore?version=1").await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(digits(&text_of(&preview.body, "rows-removed")), ROWS[2] - ROWS[0]);
    assert!(preview.body.contains("id=\"restore-disabled\"") && !preview.body.contains("method=\"post\""));
    let refused = post_restore(
        &preview_only,
        &[
            ("from", "3"),
            ("to", "1"),
            ("signature", "00"),
            ("name", "sre"),
            ("confirm", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("without --allow-restore"),
        "{}",
        refused.body
    );

    let allowed = router(
        &lake,
        Settings {
            allow_restore: true,
            ..Settings::default()
        },
    );
    let preview = get(&allowed, "/restore?version=1").await;
    let fields = form_fields(&preview.body);
    let with = |extra: &[(&str, &str)]| {
        let mut all = fields.clone();
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    };
    let unconfirmed = post_restore(&allowed, &with(&[("name", "sre"), ("confirm", "2")]), None).await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    assert!(
        unconfirmed.body.contains("type the version number 1"),
        "{}",
        unconfirmed.body
    );
    let nameless = post_restore(&allowed, &with(&[("name", " "), ("confirm", "1")]), None).await;
    assert_eq!(nameless.status, StatusCode::BAD_REQUEST);
    let mut forged = with(&[("name", "sre"), ("confirm", "0")]);
    forged[1].1 = "0".into();
    let forged = post_restore(&allowed, &forged, None).await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "a signature for 3 → 1 does not restore 0"
    );
    let cross_site = post_restore(
        &allowed,
        &with(&[("name", "sre"), ("confirm", "1")]),
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let table = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the table");
    assert_eq!(table.version(), Some(3), "no refused restore changed the table");

    let done = post_restore(
        &allowed,
        &with(&[("name", "sre on call"), ("confirm", "1")]),
        Some("http://127.0.0.1:8501"),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("now holds the rows of version 1"),
        "{}",
        done.body
    );
    let restored = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the table");
    let commits = history(&restored, Some(1)).await.expect("the history");
    let note = commits[0].user_metadata.as_deref().unwrap_or_default();
    assert!(
        note.contains("lake-browser:sre on call") && note.contains("lake.restore"),
        "the restore commit records who restored from the browser: {commits:?}"
    );
    let overview = get(&allowed, "/").await;
    assert_eq!(digits(&text_of(&overview.body, "version")), 4);
    assert_eq!(digits(&text_of(&overview.body, "rows")), ROWS[0]);
    let again = post_restore(&allowed, &with(&[("name", "sre"), ("confirm", "1")]), None).await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "the preview was of version 3, the table is at 4"
    );
    assert!(
        again.body.contains("moved on from version 3 to 4"),
        "{}",
        again.body
    );
}
