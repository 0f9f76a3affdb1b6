//! `lakehouse-delta-writer query` runs one read-only query and refuses every other statement with a
//! clear message and a failing exit, changing nothing: no file written by `COPY`, none read by
//! `CREATE EXTERNAL TABLE`.

use std::process::Output;

use lakehouse_kafka::{Batch, Record};
use lakehouse_lake::{EventsWriter, LakeLocation, WriterOptions};
use lakehouse_testkit::{reference_event, unique};

fn run_query(lake: &std::path::Path, sql: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse-delta-writer"))
        .args([
            format!("--lake-uri={}", lake.display()),
            "--log-format=pretty".into(),
            "query".into(),
            "--format=csv".into(),
            sql.into(),
        ])
        .output()
        .expect("the delta-writer binary runs")
}

#[tokio::test]
async fn query_runs_reads_and_refuses_everything_else() {
    let dir = std::env::temp_dir().join(unique("cli-query"));
    let location = LakeLocation::new(dir.display().to_string());
    let mut writer = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    let mut batch = Batch::new("t");
    for index in 0..20 {
        let record = Record {
            event: reference_event(3, index),
            partition: 0,
            offset: index as i64,
        };
        batch.push(record, 1);
    }
    writer.write(&batch).await.expect("a commit");

    let counted = run_query(&dir, "SELECT count(*) AS n FROM events");
    assert!(counted.status.success(), "{counted:?}");
    assert_eq!(String::from_utf8_lossy(&counted.stdout), "n\n20\n");

    let copied = dir.join("copied.csv");
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "do not read\n").expect("a file");
    for (sql, named) in [
        (
            format!("COPY (SELECT * FROM events) TO '{}'", copied.display()),
            "COPY ... TO",
        ),
        (
            format!(
                "CREATE EXTERNAL TABLE s (line VARCHAR) STORED AS CSV LOCATION '{}'",
                secret.display()
            ),
            "CREATE EXTERNAL TABLE",
        ),
        ("INSERT INTO events SELECT * FROM events".into(), "INSERT INTO"),
        ("DROP TABLE events".into(), "DROP TABLE"),
        ("SET datafusion.execution.batch_size = 1".into(), "SET"),
        ("SELECT 1; SELECT 2".into(), "one statement"),
    ] {
        let refused = run_query(&dir, &sql);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{sql:?} ran: {refused:?}");
        assert!(stderr.contains(named), "{sql:?}: {stderr}");
        assert!(refused.stdout.is_empty(), "{sql:?} printed {:?}", refused.stdout);
    }
    assert!(!copied.exists(), "a refused COPY wrote {}", copied.display());
    let still = run_query(&dir, "SELECT count(*) AS n FROM events");
    assert_eq!(String::from_utf8_lossy(&still.stdout), "n\n20\n");
    std::fs::remove_dir_all(&dir).ok();
}
