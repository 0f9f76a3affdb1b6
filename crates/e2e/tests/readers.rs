//! The README's "Reading the lake" recipes, run verbatim: each block marked `lake-recipe=NAME` is
//! taken out of README.md and run (after the `setup` block) with the readers' Python
//! (`LAKEHOUSE_READERS_PYTHON`, installed by `scripts/stack tools`) against a table the pipeline
//! wrote to the stack's S3 from events posted over HTTP; what each prints must match the
//! warehouse, and DuckDB's older version what our own library reads at that version.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Pipeline;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use lakehouse_e2e::lake::Lake;
use lakehouse_lake::{AsOf, open_at, query};
use lakehouse_testkit::stack::setting;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, repo, wait_for_rows, wait_until};
use serde_json::{Value, json};

const API_KEY: &str = "readers-secret-key";
const PATIENCE: Duration = Duration::from_secs(60);

/// The recipes the README marks as runnable, besides `setup`. Spark's is documented only.
const RECIPES: [&str; 5] = ["deltalake", "polars", "pandas", "duckdb", "datafusion"];

/// Runs the recipe on standard input as a script, then exits at once: delta-rs and Arrow may
/// abort the interpreter's teardown ("terminate called without an active exception") after
/// the work is done, which the README tells readers. An error in the recipe still fails.
const RUNNER: &str = r#"
import os, sys
exec(compile(sys.stdin.read(), "README.md recipe", "exec"), {"__name__": "__main__"})
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"#;

/// The fenced blocks of `markdown` whose info string has `lake-recipe=NAME`, by name.
fn marked_recipes(markdown: &str) -> BTreeMap<String, String> {
    let mut recipes = BTreeMap::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let name = info
            .split_whitespace()
            .find_map(|word| word.strip_prefix("lake-recipe="));
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|line| line.trim_end() != "```")
            .collect();
        if let Some(name) = name {
            let previous = recipes.insert(name.to_string(), body.join("\n") + "\n");
            assert!(
                previous.is_none(),
                "README.md marks two blocks lake-recipe={name}"
            );
        }
    }
    recipes
}

/// What a recipe printed: `rows N`, `version N`, `rows_at_version V N`, and counts per
/// `event_type` and per `plan`.
#[derive(Debug, Default, PartialEq)]
struct Printed {
    rows: Option<i64>,
    version: Option<i64>,
    rows_at_version: Option<(i64, i64)>,
    event_types: BTreeMap<String, i64>,
    plans: BTreeMap<String, i64>,
}

fn parse_printed(stdout: &str) -> Printed {
    let number = |word: &str| -> i64 {
        word.parse()
            .unwrap_or_else(|e| panic!("{word:?} is not a count ({e}) in:\n{stdout}"))
    };
    let mut printed = Printed::default();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rows", n] => printed.rows = Some(number(n)),
            ["version", n] => printed.version = Some(number(n)),
            ["rows_at_version", version, n] => printed.rows_at_version = Some((number(version), number(n))),
            ["event_type", kind, n] => {
                printed.event_types.insert(kind.to_string(), number(n));
            }
            ["plan", plan, n] => {
                printed.plans.insert(plan.to_string(), number(n));
            }
            _ => panic!("a line no recipe prints: {line:?} in:\n{stdout}"),
        }
    }
    printed
}

/// Posts `events` as one batch; all must be accepted.
async fn post_all(pipeline: &Pipeline, events: &[Value]) {
    let (status, body) = pipeline.post(&json!({ "batch": events })).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (202, Some(events.len() as u64)),
        "{body}"
    );
}

/// `count` events of `kind`, with `properties`.
fn events(kind: &str, count: usize, properties: Value) -> Vec<Value> {
    (0..count)
        .map(|i| {
            json!({
                "event_type": kind,
                "session_id": format!("readers-{kind}-{i}"),
                "url": "https://shop.example/pricing",
                "properties": properties,
            })
        })
        .collect()
}

/// The first round: plans in `properties` beside other properties, and events with no plan or no
/// properties at all (stored as null in the lake, `{}` in the warehouse).
fn first_round() -> Vec<Value> {
    [
        events("page_view", 4, json!({"plan": "pro", "source": "ad"})),
        events("page_view", 2, json!({"plan": "free"})),
        events("page_view", 1, json!({})),
        events("click", 3, json!({"plan": "free", "button": "upgrade"})),
        events("click", 1, json!({"button": "close"})),
        events("signup", 2, json!({"plan": "team", "seats": 5})),
    ]
    .concat()
}

/// The second round, committed after the first: what DuckDB's older version must not see.
fn second_round() -> Vec<Value> {
    [
        events("page_view", 3, json!({"plan": "pro"})),
        events("purchase", 2, json!({"plan": "team", "coupon": "launch"})),
    ]
    .concat()
}

/// Counts by a grouping query of two columns (text, bigint).
async fn warehouse_counts(pool: &sqlx::PgPool, sql: &str) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .expect("the warehouse query");
    rows.into_iter().collect()
}

/// Rows of the lake's `version`, as our own library reads it.
async fn lake_rows_at(lake: &Lake, version: u64) -> i64 {
    let at = AsOf {
        version: Some(version),
        as_of: None,
    };
    let table = open_at(&lake.location, &at)
        .await
        .expect("the table at that version");
    let batches = query(&table, "SELECT count(*) FROM events")
        .await
        .expect("the count");
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

/// Runs a recipe (the setup block, then it) with the readers' Python and what the setup block
/// reads from the environment pointing at `lake`; returns what it printed.
fn run_recipe(name: &str, code: &str, stack: &Stack, lake: &Lake) -> String {
    let python = setting("LAKEHOUSE_READERS_PYTHON");
    let mut child = Command::new(&python)
        // Isolated: no PYTHON* variables, no user site, not the working directory on the path.
        .args(["-I", "-c", RUNNER])
        .env("LAKE_URI", &lake.location.uri)
        .env("AWS_ENDPOINT_URL", &stack.aws_endpoint_url)
        .env("AWS_ACCESS_KEY_ID", &stack.aws_access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &stack.aws_secret_access_key)
        .env("AWS_REGION", &stack.aws_region)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {python} (scripts/stack tools installs it): {e}"));
    child
        .stdin
        .take()
        .expect("the recipe's stdin")
        .write_all(code.as_bytes())
        .expect("the recipe written to Python");
    let output = child.wait_with_output().expect("the recipe's output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the {name} recipe failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_readme_marks_each_runnable_recipe_once() {
    let readme = std::fs::read_to_string(repo::path("README.md")).expect("README.md");
    let recipes = marked_recipes(&readme);
    let names: BTreeSet<&str> = recipes.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = RECIPES.iter().copied().chain(["setup"]).collect();
    assert_eq!(names, expected);
    for (name, code) in &recipes {
        assert!(
            code.lines().count() > 3,
            "the {name} recipe is a few lines at least:\n{code}"
        );
        assert!(!code.contains("```"), "the {name} recipe ends at its own fence");
    }
    // Spark's is documented, unmarked and said to be untested.
    assert!(
        readme.contains(".format(\"delta\")"),
        "README.md has the Spark recipe"
    );
    assert!(readme.contains("**Not run by the tests**"));
}

#[test]
fn printed_lines_are_parsed_and_unknown_ones_refused() {
    let printed = parse_printed("version 3\nrows 5\nevent_type click 2\nplan pro 1\nrows_at_version 2 4\n");
    assert_eq!(printed.rows, Some(5));
    assert_eq!(printed.version, Some(3));
    assert_eq!(printed.rows_at_version, Some((2, 4)));
    assert_eq!(printed.event_types, BTreeMap::from([("click".into(), 2)]));
    assert_eq!(printed.plans, BTreeMap::from([("pro".into(), 1)]));
    assert!(std::panic::catch_unwind(|| parse_printed("rows five\n")).is_err());
    assert!(std::panic::catch_unwind(|| parse_printed("Traceback (most recent call last):\n")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_runnable_readme_recipe_reads_what_the_pipeline_wrote_to_s3() {
    let readme = std::fs::read_to_string(repo::path("README.md")).expect("README.md");
    let recipes = marked_recipes(&readme);
    let setup = recipes.get("setup").expect("README.md marks a setup block");

    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let lake = Lake::on_stack(&stack, "readers");
    let pool = sqlx::PgPool::connect(&database.url)
        .await
        .expect("the test database");

    let pipeline = Pipeline::start(&stack, &topic, &database, &lake.flags(), ("readers", API_KEY)).await;
    let first = first_round();
    post_all(&pipeline, &first).await;
    let first_rows = first.len() as i64;
    wait_for_rows(&pool, first_rows).await;
    wait_until("the first round in the lake", PATIENCE, || async {
        let ids = lake.id_counts().await?;
        let rows: i64 = ids.values().sum();
        (rows == first_rows).then_some(()).ok_or(format!("{rows} rows"))
    })
    .await;
    let second = second_round();
    post_all(&pipeline, &second).await;
    let total = first_rows + second.len() as i64;
    wait_for_rows(&pool, total).await;
    wait_until("both rounds in the lake", PATIENCE, || async {
        let ids = lake.id_counts().await?;
        let rows: i64 = ids.values().sum();
        (rows == total && ids.len() as i64 == total)
            .then_some(())
            .ok_or(format!("{rows} rows, {} distinct", ids.len()))
    })
    .await;
    // Nothing more is written while the recipes read.
    pipeline.stop().await;

    let by_type = warehouse_counts(
        &pool,
        "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    let by_plan = warehouse_counts(
        &pool,
        "SELECT properties->>'plan', count(*) FROM events WHERE properties ? 'plan' GROUP BY 1 ORDER BY 1",
    )
    .await;
    // The warehouse holds what was posted, so it is a fair reference.
    assert_eq!(
        by_type,
        BTreeMap::from([
            ("click".into(), 4),
            ("page_view".into(), 10),
            ("purchase".into(), 2),
            ("signup".into(), 2),
        ])
    );
    assert_eq!(
        by_plan,
        BTreeMap::from([("free".into(), 5), ("pro".into(), 7), ("team".into(), 4)])
    );

    let latest = open_at(&lake.location, &AsOf::default())
        .await
        .expect("the table")
        .version()
        .expect("a version");
    let previous = latest.checked_sub(1).expect("more than one version");
    let previous_rows = lake_rows_at(&lake, previous).await;
    // The second round's last commit is what the older version lacks.
    assert!(
        (first_rows..total).contains(&previous_rows),
        "version {previous} holds {previous_rows} rows"
    );

    for name in RECIPES {
        let recipe = recipes
            .get(name)
            .unwrap_or_else(|| panic!("README.md marks no lake-recipe={name}"));
        let stdout = run_recipe(name, &format!("{setup}\n{recipe}"), &stack, &lake);
        let printed = parse_printed(&stdout);
        assert_eq!(printed.rows, Some(total), "{name} rows:\n{stdout}");
        assert_eq!(printed.event_types, by_type, "{name} events per type:\n{stdout}");
        assert_eq!(printed.plans, by_plan, "{name} events per plan:\n{stdout}");
        if let Some(version) = printed.version {
            assert_eq!(version, latest as i64, "{name} reads the latest version");
        }
        if name == "duckdb" {
            assert_eq!(
                printed.rows_at_version,
                Some((previous as i64, previous_rows)),
                "DuckDB's time travel reads the version before the latest:\n{stdout}"
            );
        }
    }
    pool.close().await;
}
