//! Each project's warehouse rows readable only by its own readers (DESIGN.md §7), on real
//! PostgreSQL: after `lakehouse warehouse grant-project`, every SQL query of every Grafana
//! dashboard, run as the project's role, returns exactly what the shared reader gets from a
//! warehouse holding that project alone, even when asked for every project; run as the shared
//! reader, what the owner (whom row security does not apply to) gets. The project's role cannot
//! read the keys, the audit log, the offsets or who reads what, nor write; revoking its projects
//! leaves it nothing; roles that read everything anyway and names that are not plain are refused.

use std::process::Output;

use chrono::Duration;
use lakehouse_event::{Batch, EnrichedEvent, Record};
use lakehouse_testkit::dashboards::{dashboards, expanded, sql_targets, variables};
use lakehouse_testkit::grafana_sql::{Range, Value as Variable};
use lakehouse_testkit::stack::setting;
use lakehouse_testkit::{Stack, TempDatabase, reference_event, workload};
use lakehouse_warehouse::Warehouse;
use lakehouse_warehouse::grants::Roles;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

const PROJECTS: [&str; 3] = ["shop", "docs", "blog"];
/// The project reader of these tests: `scripts/stack` makes it (NOLOGIN) as a DBA would, and
/// makes the stack's user a member, so that a test can act as it.
const ROLE: &str = "lakehouse_test_project_reader";
/// Events loaded, a third of the sessions per project: enough that every panel has rows for one
/// project.
const EVENTS: u64 = 9_000;

/// An event of the reference workload, its session (all of its events) in one of the projects.
fn event(index: u64) -> EnrichedEvent {
    let mut event = reference_event(35, index);
    let session: u64 = event.session_id.bytes().map(u64::from).sum();
    event.project_id = PROJECTS[(session % 3) as usize].into();
    event
}

/// Migrates `database` and writes the events of the projects `keep` accepts through the
/// processor's batch writer and fold, so that the derived tables fill as in production.
async fn load(database: &TempDatabase, keep: impl Fn(&str) -> bool) {
    let warehouse = Warehouse::connect_lazy(&database.url, "project-readers").expect("a pool");
    warehouse.migrate(&Roles::default()).await.expect("migrations");
    let mut batch = Batch::new("analytics.events");
    for index in 0..EVENTS {
        let event = event(index);
        if keep(&event.project_id) {
            batch.push(Record {
                event,
                partition: (index % 6) as i32,
                offset: index as i64,
            });
        }
    }
    warehouse.write_batch(&batch).await.expect("the batch");
    warehouse.fold().await.expect("the derived rows");
}

/// Grafana's shared login, a member of the shared reader (`scripts/stack` makes it).
async fn grafana(database: &TempDatabase) -> PgConnection {
    database
        .url
        .parse::<PgConnectOptions>()
        .expect("the database URL")
        .username("lakehouse_grafana")
        .password(&setting("LAKEHOUSE_GRAFANA_DB_PASSWORD"))
        .connect()
        .await
        .expect("lakehouse_grafana logs in")
}

/// A connection to `database` acting as `role` (`None`: as the stack's user, the owner).
async fn connect(database: &TempDatabase, role: Option<&str>) -> PgConnection {
    let mut connection = PgConnection::connect(&database.url).await.expect("the database");
    if let Some(role) = role {
        sqlx::query(&format!("SET ROLE {role}"))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| {
                panic!("act as {role} (a stack from before project readers: `scripts/stack stop postgres; scripts/stack up`): {e}")
            });
    }
    connection
}

/// `lakehouse <args>` on `database`.
fn lakehouse(database: &TempDatabase, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env("LOG_FORMAT", "pretty")
        .output()
        .expect("lakehouse runs")
}

/// `lakehouse warehouse grant-project|revoke-project` for the test role, which must succeed; its
/// result.
fn change(database: &TempDatabase, command: &str, project: &str) -> Value {
    let output = lakehouse(
        database,
        &[
            "warehouse",
            command,
            &format!("--project-id={project}"),
            &format!("--role={ROLE}"),
        ],
    );
    assert!(
        output.status.success(),
        "{command} {project}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the result is JSON")
}

/// The workload's days, with a day of margin on each side.
fn data_range() -> Range {
    let last = workload::last_day();
    Range {
        from: last - Duration::days(workload::DAYS as i64 + 1),
        to: last + Duration::days(2),
        interval: "1h".into(),
    }
}

/// `sql` without its `LIMIT n`s: where rows tie at a limit, two plans may cut them differently,
/// and the rows compared are then all of them.
fn without_limits(sql: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut tokens = sql.split_whitespace().peekable();
    while let Some(token) = tokens.next() {
        if token.eq_ignore_ascii_case("LIMIT")
            && let Some(count) = tokens.peek()
        {
            let digits = count.trim_end_matches(')');
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                let rest = &count[digits.len()..];
                tokens.next();
                if !rest.is_empty() {
                    words.push(rest);
                }
                continue;
            }
        }
        words.push(token);
    }
    words.join(" ")
}

/// A value with its fractional numbers to 9 significant digits: sums of the same floats added in
/// another order differ in their last bits.
fn canonical(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => Value::String(format!("{:.9e}", n.as_f64().unwrap_or_default())),
        Value::Object(fields) => Value::Object(fields.into_iter().map(|(k, v)| (k, canonical(v))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The rows `sql` returns (its limits left out), each as JSON text, sorted.
async fn rows(connection: &mut PgConnection, sql: &str) -> Result<Vec<String>, String> {
    let wrapped = format!("SELECT to_jsonb(q)::text FROM ({}) q", without_limits(sql));
    let texts: Vec<String> = sqlx::query_scalar(&wrapped)
        .fetch_all(connection)
        .await
        .map_err(|e| format!("{e}\n  SQL: {wrapped}"))?;
    let mut rows: Vec<String> = texts
        .iter()
        .map(|text| canonical(serde_json::from_str(text).expect("a row as JSON")).to_string())
        .collect();
    rows.sort();
    Ok(rows)
}

/// The SQLSTATE of `statement` as the connection's role, which must fail.
async fn refused(connection: &mut PgConnection, statement: &str) -> String {
    let error = sqlx::query(statement)
        .execute(connection)
        .await
        .expect_err(statement);
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|code| code.into_owned())
        .unwrap_or_else(|| error.to_string())
}

/// The projects whose rows `table` shows the connection's role.
async fn projects_seen(connection: &mut PgConnection, table: &str) -> Vec<String> {
    sqlx::query_scalar(&format!("SELECT DISTINCT project_id FROM {table} ORDER BY 1"))
        .fetch_all(connection)
        .await
        .unwrap_or_else(|e| panic!("read {table}: {e}"))
}

#[tokio::test]
async fn a_project_reader_sees_only_its_project_in_every_dashboard_query() {
    let stack = Stack::from_env();
    let (all, shop_only) = (
        TempDatabase::create(&stack).await,
        TempDatabase::create(&stack).await,
    );
    tokio::join!(
        load(&all, |_| true),
        load(&shop_only, |project| project == "shop")
    );

    let granted = change(&all, "grant-project", "shop");
    assert_eq!(granted["projects"], serde_json::json!(["shop"]), "{granted}");
    let tables = granted["tables"].as_array().expect("the tables");
    for table in [
        "events",
        "events_to_derive",
        "event_rollups_minute",
        "event_dimensions_hourly",
        "unique_ids_hourly",
        "funnel_progress",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {granted}");
    }
    assert_eq!(change(&all, "grant-project", "shop"), granted, "idempotent");

    let mut owner = connect(&all, None).await;
    let mut shared = grafana(&all).await;
    let mut project = connect(&all, Some(ROLE)).await;
    let mut alone = grafana(&shop_only).await;
    let range = data_range();

    let mut failures = Vec::new();
    let (mut checked, mut narrowed) = (0, 0);
    for (file, dashboard) in dashboards() {
        let targets = sql_targets(&dashboard);
        if targets.is_empty() {
            continue;
        }
        // The shared reader's variables name every project; the project reader's only its own.
        let every = variables(&mut shared, &dashboard, &range)
            .await
            .expect("variables");
        let own = variables(&mut project, &dashboard, &range)
            .await
            .expect("variables");
        for (values, expected) in [(&every, PROJECTS.len()), (&own, 1)] {
            let Some((_, Variable::Multi(projects))) = values.iter().find(|(name, _)| name == "project")
            else {
                panic!("{file}: a multi-value project variable")
            };
            if projects.len() != expected {
                failures.push(format!("{file}: the project variable is {projects:?}"));
            }
        }
        // Every query is asked for every project: the rows must be held back by the warehouse,
        // not by the dashboard's filter.
        for (panel, target) in targets {
            checked += 1;
            let name = format!("{file} / {} / {}", panel["title"], target["refId"]);
            let sql = expanded(target, &every, &range).expect("the SQL");
            let as_project = rows(&mut project, &sql).await;
            let only_its_project = rows(&mut alone, &sql).await;
            let as_shared = rows(&mut shared, &sql).await;
            let everything = rows(&mut owner, &sql).await;
            match (as_project, only_its_project, as_shared, everything) {
                (Ok(as_project), Ok(only_its_project), Ok(as_shared), Ok(everything)) => {
                    if only_its_project.is_empty() {
                        failures.push(format!("{name}: no rows for one project, so nothing is compared"));
                    }
                    if as_project != only_its_project {
                        failures.push(format!(
                            "{name}: the project reader got {as_project:?}\n  its project alone: {only_its_project:?}"
                        ));
                    }
                    if as_shared != everything {
                        failures.push(format!(
                            "{name}: the shared reader got {as_shared:?}\n  every row: {everything:?}"
                        ));
                    }
                    if as_project != as_shared {
                        narrowed += 1;
                    }
                }
                (p, o, s, e) => failures.push(format!("{name}: {:?}", [p.err(), o.err(), s.err(), e.err()])),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} SQL targets:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 20, "only {checked} SQL targets found");
    assert_eq!(
        narrowed, checked,
        "every query shows the project reader less than the shared reader"
    );

    for table in [
        "events",
        "event_rollups_minute",
        "unique_ids_hourly",
        "funnel_progress",
    ] {
        assert_eq!(projects_seen(&mut project, table).await, ["shop"], "{table}");
        assert_eq!(
            projects_seen(&mut shared, table).await,
            ["blog", "docs", "shop"],
            "{table}"
        );
    }
    for statement in [
        "SELECT count(*) FROM api_keys",
        "SELECT count(*) FROM audit_log",
        "SELECT count(*) FROM kafka_offsets",
        "SELECT count(*) FROM project_readers",
        "DELETE FROM events",
        "UPDATE event_rollups_minute SET events = 0",
        "INSERT INTO funnel_progress SELECT * FROM funnel_progress",
    ] {
        assert_eq!(refused(&mut project, statement).await, "42501", "{statement}");
    }
}

#[tokio::test]
async fn a_reader_of_several_projects_loses_each_it_is_revoked_and_shared_roles_are_refused() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    load(&database, |_| true).await;

    change(&database, "grant-project", "shop");
    let both = change(&database, "grant-project", "blog");
    assert_eq!(both["projects"], serde_json::json!(["blog", "shop"]));
    let mut project = connect(&database, Some(ROLE)).await;
    assert_eq!(projects_seen(&mut project, "events").await, ["blog", "shop"]);

    let left = change(&database, "revoke-project", "shop");
    assert_eq!(left["projects"], serde_json::json!(["blog"]));
    assert_eq!(
        projects_seen(&mut project, "event_dimensions_hourly").await,
        ["blog"]
    );
    assert_eq!(change(&database, "revoke-project", "shop"), left, "idempotent");
    change(&database, "revoke-project", "blog");
    assert_eq!(
        refused(&mut project, "SELECT count(*) FROM events").await,
        "42501",
        "no project left, no SELECT"
    );

    // Refused (exit status 2), each with why: names that are not plain identifiers, the shared
    // roles and their members, and a role this login may not create.
    for (role, why) in [
        ("Grafana-Shop", "not a plain role name"),
        ("x; DROP TABLE events", "not a plain role name"),
        ("lakehouse_reader", "shared role"),
        ("lakehouse_grafana", "member of the shared role lakehouse_reader"),
        ("lakehouse_writer", "shared role"),
        ("lakehouse_no_such_project_reader", "may not create roles"),
    ] {
        let output = lakehouse(
            &database,
            &[
                "warehouse",
                "grant-project",
                "--project-id=shop",
                &format!("--role={role}"),
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{role}: {stderr}");
        assert!(stderr.contains(why), "{role}: {stderr}");
    }
    let mut shared = grafana(&database).await;
    assert_eq!(
        projects_seen(&mut shared, "events").await,
        ["blog", "docs", "shop"],
        "a refused grant changed nothing"
    );

    let recorded: Vec<(String, bool)> =
        sqlx::query_as("SELECT action, ok FROM audit_log WHERE action LIKE 'warehouse.%' ORDER BY id")
            .fetch_all(&mut connect(&database, None).await)
            .await
            .expect("the audit log");
    assert_eq!(recorded.iter().filter(|(_, ok)| *ok).count(), 5, "{recorded:?}");
    assert_eq!(recorded.iter().filter(|(_, ok)| !*ok).count(), 6, "{recorded:?}");
    assert!(
        recorded
            .iter()
            .any(|(action, _)| action == "warehouse.revoke_project")
    );
}
