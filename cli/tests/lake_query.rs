//! `lakehouse lake query` runs one read-only query and refuses every other statement with a
//! clear message and a failing exit, changing nothing: no file written by `COPY`, none read by
//! `CREATE EXTERNAL TABLE`. A query is stopped at its timeout, refused at its memory limit, and
//! stopped by SIGTERM. A column added after files were written reads null in them, and a version
//! before it is queried with its own schema.

use std::process::Output;
use std::time::Duration;

use deltalake::kernel::{DataType, StructField};
use lakehouse_event::{Batch, Record};
use lakehouse_lake::{AsOf, EventsWriter, LakeLocation, WriterOptions, open_at};
use lakehouse_testkit::{reference_event, unique, wait_until};

fn run_query(lake: &std::path::Path, sql: &str) -> Output {
    run_query_with(lake, sql, &[])
}

/// Runs `query` with `extra` arguments (e.g. `--version=1`) before the SQL.
fn run_query_with(lake: &std::path::Path, sql: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--log-format=pretty".into(),
        "lake".into(),
        "query".into(),
        format!("--lake-uri={}", lake.display()),
        "--output=csv".into(),
    ];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args.push(sql.into());
    std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(args)
        .output()
        .expect("lakehouse runs")
}

/// `rows` reference events of `seed` from offset `first` on, read from partition 0.
fn batch(seed: u64, first: u64, rows: u64) -> Batch {
    let mut batch = Batch::new("t");
    for index in first..first + rows {
        let record = Record {
            event: reference_event(seed, index),
            partition: 0,
            offset: index as i64,
        };
        batch.push(record);
    }
    batch
}

#[tokio::test]
async fn query_runs_reads_and_refuses_everything_else() {
    let dir = std::env::temp_dir().join(unique("cli-query"));
    let location = LakeLocation::new(dir.display().to_string());
    let mut writer = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    writer.write(&batch(3, 0, 20)).await.expect("a commit");

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

#[tokio::test]
async fn query_is_stopped_at_its_timeout_its_memory_limit_and_sigterm() {
    let dir = std::env::temp_dir().join(unique("cli-query-limits"));
    let location = LakeLocation::new(dir.display().to_string());
    let mut writer = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    writer.write(&batch(4, 0, 200)).await.expect("a commit");

    // 4 * 10^13 rows to sum: it would run for days.
    let endless = "SELECT sum(length(a.event_id || b.event_id)) FROM events a, events b, range(1000000000) c";
    let started = std::time::Instant::now();
    let stopped = run_query_with(&dir, endless, &["--timeout-secs=1"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(!stopped.status.success(), "{stopped:?}");
    assert!(
        stderr.contains("did not finish within 1 s and was stopped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--timeout-secs"),
        "the flag that gives it longer: {stderr}"
    );
    assert!(
        took < std::time::Duration::from_secs(20),
        "it ended after {took:?}"
    );

    // 8 * 10^6 rows of 108 bytes to sort, in at most 1 MiB (and as much spilled).
    let sort =
        "SELECT a.event_id || b.event_id || c.event_id AS k FROM events a, events b, events c ORDER BY k";
    let refused = run_query_with(&dir, sort, &["--memory-limit-mib=1"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(stderr.contains("memory limit of 1 MiB"), "{stderr}");
    assert!(
        stderr.contains("--memory-limit-mib"),
        "the flag that gives it more: {stderr}"
    );

    // SIGTERM while the query computes: it is stopped and the command ends at once.
    let running = tokio::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args([
            "--log-format=pretty".into(),
            "lake".into(),
            "query".into(),
            format!("--lake-uri={}", dir.display()),
            "--timeout-secs=600".into(),
            endless.into(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("lakehouse runs");
    let pid = running.id().expect("a pid");
    wait_until("the query computes", Duration::from_secs(30), || async {
        if query_thread_computing(pid) {
            Ok(())
        } else {
            Err("no query thread has run yet".to_string())
        }
    })
    .await;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let ended = tokio::time::timeout(Duration::from_secs(10), running.wait_with_output())
        .await
        .expect("the query ends within 10 s of SIGTERM")
        .expect("its output");
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert_eq!(ended.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted: the query was stopped"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Whether process `pid` has a `query` thread (the query executor's) that has run on a CPU.
fn query_thread_computing(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // utime is the 14th field; the 2nd (the name) is in parentheses and may hold spaces.
        let utime = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(11))
            .and_then(|ticks| ticks.parse::<u64>().ok())
            .unwrap_or(0);
        name.trim() == "query" && utime > 0
    })
}

#[tokio::test]
async fn query_reads_a_column_added_after_the_files_as_null_and_time_travels_to_before_it() {
    let dir = std::env::temp_dir().join(unique("cli-query-evolved"));
    let location = LakeLocation::new(dir.display().to_string());
    let mut writer = EventsWriter::open_or_create(&location, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    writer.write(&batch(4, 0, 20)).await.expect("a commit");
    // A newer writer adds a nullable column (version 2); our files (version 1) lack it.
    let table = open_at(&location, &AsOf::default()).await.expect("the table");
    table
        .add_columns()
        .with_fields([StructField::new("utm_future", DataType::STRING, true)])
        .await
        .expect("a newer writer's column");
    writer.write(&batch(4, 20, 10)).await.expect("a commit beside it");

    let sql = "SELECT count(*) AS n, count(utm_future) AS future FROM events";
    let latest = run_query(&dir, sql);
    assert!(latest.status.success(), "{latest:?}");
    assert_eq!(String::from_utf8_lossy(&latest.stdout), "n,future\n30,0\n");
    let then = run_query_with(&dir, sql, &["--version=1"]);
    assert!(!then.status.success(), "version 1 has no utm_future: {then:?}");
    assert!(
        String::from_utf8_lossy(&then.stderr).contains("utm_future"),
        "{then:?}"
    );
    let counted = run_query_with(&dir, "SELECT count(*) AS n FROM events", &["--version=1"]);
    assert_eq!(String::from_utf8_lossy(&counted.stdout), "n\n20\n");
    std::fs::remove_dir_all(&dir).ok();
}
