//! Every listing of `lakehouse` prints what a script can read, on real stores: with `--output
//! json` each line of each listing is a JSON object (reconcile's report is one object), and with
//! `--output csv` a header line and as many rows as JSON gave.

mod common;

use common::{migrated_database, run_lakehouse, strings};
use lakehouse_testkit::{Stack, TestTopic, produce, reference_event, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listing_prints_json_lines_and_csv() {
    let stack = Stack::from_env();
    let database = migrated_database(&stack).await;
    let topic = TestTopic::create(&stack, 1).await;
    // A dead letter: anything in the dead-letter topic is listed.
    produce(&stack, &topic.dlq, &[reference_event(3, 0)]).await;
    let dir = std::env::temp_dir().join(unique("listings"));
    common::reference_lake(&dir, 3, 20, 10).await;
    let db = vec![format!("--database-url={}", database.url)];
    let lake = vec![format!("--lake-uri={}", dir.display())];
    let stores: Vec<String> = db.iter().chain(&lake).cloned().collect();
    run_lakehouse(&strings(&["keys", "create", "--project-id=shop"], &db));

    let listings: Vec<(&str, Vec<String>)> = vec![
        ("keys list", strings(&["keys", "list"], &db)),
        ("audit", strings(&["audit"], &db)),
        ("lake history", strings(&["lake", "history"], &lake)),
        ("lake diff", strings(&["lake", "diff", "--from-version=1"], &lake)),
        (
            "lake query",
            strings(
                &[
                    "lake",
                    "query",
                    "SELECT event_type, count(*) AS n FROM events GROUP BY event_type",
                ],
                &lake,
            ),
        ),
        ("dlq list", strings(&["dlq", "list"], &topic.flags(&stack))),
        (
            "warehouse reconcile",
            strings(
                &[
                    "warehouse",
                    "reconcile",
                    "--range=2026-10-01..2026-11-02",
                    "--all",
                ],
                &stores,
            ),
        ),
    ];
    for (name, args) in listings {
        let with = |output: &str| {
            let (code, stdout) = run_lakehouse(&[args.clone(), vec![output.to_string()]].concat());
            // Only reconcile may end in 2 (drift: the warehouse is empty, the lake is not).
            assert!(
                code == Some(0) || name == "warehouse reconcile",
                "{name}: exit {code:?}"
            );
            stdout
        };
        let json = with("--output=json");
        let objects: Vec<serde_json::Value> = json
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{name}: {error}: {line}")))
            .collect();
        assert!(!objects.is_empty(), "{name} listed nothing: {json}");
        assert!(objects.iter().all(serde_json::Value::is_object), "{name}: {json}");
        let csv = with("--output=csv");
        let rows = csv.lines().count() - 1;
        let expected = if name == "warehouse reconcile" {
            objects[0]["rows"].as_array().expect("the report's rows").len()
        } else {
            objects.len()
        };
        assert_eq!(rows, expected, "{name}: CSV rows\n{csv}\nJSON\n{json}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
