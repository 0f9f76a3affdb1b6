//! The audit log on real PostgreSQL: records are stored and listed; the writer role may insert
//! and read but neither update, delete nor truncate; the table's owner is refused the same by the
//! trigger; the dashboards' reader cannot see it; and `lakehouse offsets reset` leaves its record,
//! which `lakehouse audit` lists.

use lakehouse_audit::{Action, AuditLog, Filter, list};
use lakehouse_testkit::{Stack, TempDatabase};
use lakehouse_warehouse::Warehouse;
use lakehouse_warehouse::grants::Roles;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

async fn migrated(database: &TempDatabase) -> PgPool {
    let warehouse = Warehouse::connect_lazy(&database.url, "g").expect("a pool");
    warehouse.migrate(&Roles::default()).await.expect("migrations");
    warehouse.pool().clone()
}

/// A pool whose every connection acts as `role` (the stack's user is a member of the writer role).
async fn acting_as(database: &TempDatabase, role: &'static str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                sqlx::query(&format!("SET ROLE {role}"))
                    .execute(connection)
                    .await
                    .map(|_| ())
            })
        })
        .connect(&database.url)
        .await
        .unwrap_or_else(|e| {
            panic!("act as {role} (a stack from before the audit log: `scripts/stack stop postgres; scripts/stack up`): {e}")
        })
}

/// The SQLSTATE of a refused statement.
async fn refusal(pool: &PgPool, statement: &str) -> String {
    let error = sqlx::query(statement).execute(pool).await.expect_err(statement);
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|code| {
            format!(
                "{code}: {}",
                error.as_database_error().map(|e| e.message()).unwrap_or_default()
            )
        })
        .unwrap_or_else(|| error.to_string())
}

#[tokio::test]
async fn the_writer_inserts_and_nobody_updates_or_deletes() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let owner = migrated(&database).await;
    let writer = acting_as(&database, "lakehouse_writer").await;

    let action = Action::new("sre-1", "lake.vacuum", json!({"retention_hours": 168}));
    let record = action.finished(&Ok::<_, String>(json!({"files": 3})));
    AuditLog::new(writer.clone())
        .record(&record)
        .await
        .expect("the writer inserts");
    let listed = list(
        &writer,
        &Filter {
            limit: 10,
            ..Filter::default()
        },
    )
    .await
    .expect("the writer reads");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].actor.as_str(), listed[0].action.as_str(), listed[0].ok),
        ("sre-1", "lake.vacuum", true)
    );
    assert_eq!(listed[0].result, json!({"files": 3}));
    assert_eq!(listed[0].arguments, json!({"retention_hours": 168}));

    for statement in [
        "UPDATE audit_log SET actor = 'someone-else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let as_writer = refusal(&writer, statement).await;
        assert!(
            as_writer.starts_with("42501"),
            "the writer: {statement}: {as_writer}"
        );
        let as_owner = refusal(&owner, statement).await;
        assert!(
            as_owner.starts_with("42501") && as_owner.contains("append-only"),
            "the owner: {statement}: {as_owner}"
        );
    }
    let still: (String, i64) = sqlx::query_as("SELECT actor, count(*) OVER () FROM audit_log")
        .fetch_one(&owner)
        .await
        .expect("the record");
    assert_eq!(still, ("sre-1".to_string(), 1), "the record is unchanged");

    // The dashboards' login sees nothing of it.
    let grafana = database
        .url
        .parse::<PgConnectOptions>()
        .expect("the URL")
        .username("lakehouse_grafana")
        .password("lakehouse_grafana");
    let mut grafana = grafana.connect().await.expect("Grafana's login");
    let hidden = sqlx::query("SELECT * FROM audit_log")
        .execute(&mut grafana)
        .await
        .expect_err("the reader cannot read the audit log");
    assert_eq!(
        hidden.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );
}

#[tokio::test]
async fn the_list_filters_by_action_prefix_actor_and_time() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let pool = migrated(&database).await;
    let audit = AuditLog::new(pool.clone());
    for (actor, action) in [
        ("a", "lake.vacuum"),
        ("b", "lake.restore"),
        ("a", "warehouse.rebuild"),
        ("a", "lake_x.odd"),
    ] {
        let record = Action::new(actor, action, json!({})).finished(&Ok::<_, String>(json!(null)));
        audit.record(&record).await.expect("a record");
    }
    let actions = |filter: Filter| {
        let pool = pool.clone();
        async move {
            list(&pool, &Filter { limit: 10, ..filter })
                .await
                .expect("a list")
                .into_iter()
                .map(|r| r.action)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        actions(Filter::default()).await,
        ["lake_x.odd", "warehouse.rebuild", "lake.restore", "lake.vacuum"],
        "newest first"
    );
    assert_eq!(
        actions(Filter {
            action: Some("lake.".into()),
            ..Filter::default()
        })
        .await,
        ["lake.restore", "lake.vacuum"],
        "a prefix, `_` taken literally"
    );
    assert_eq!(
        actions(Filter {
            actor: Some("a".into()),
            action: Some("lake.vacuum".into()),
            ..Filter::default()
        })
        .await,
        ["lake.vacuum"]
    );
    assert!(
        actions(Filter {
            since: Some(chrono::Utc::now() + chrono::Duration::minutes(1)),
            ..Filter::default()
        })
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn reset_offsets_leaves_its_record_and_audit_lists_it() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let pool = migrated(&database).await;
    let lakehouse = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
            .args(args)
            .env("DATABASE_URL", &database.url)
            .env("LOG_FORMAT", "pretty")
            .output()
            .expect("lakehouse runs");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    // The global --actor after the subcommand, as before it.
    lakehouse(&[
        "offsets",
        "reset",
        "--sink=warehouse",
        "--kafka-topic=audited-topic",
        "--partition=3",
        "--actor=sre-2",
    ]);
    let records = list(
        &pool,
        &Filter {
            limit: 10,
            ..Filter::default()
        },
    )
    .await
    .expect("the audit log");
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (record.actor.as_str(), record.action.as_str(), record.ok),
        ("sre-2", "warehouse.reset_offsets", true)
    );
    assert_eq!(
        record.arguments,
        json!({"group": "lakehouse-warehouse", "topic": "audited-topic", "partitions": [3]})
    );
    assert_eq!(record.result, json!({"deleted": 0, "partitions": [3]}));

    // `audit` lists it, as JSON lines, CSV and a table.
    let lines = lakehouse(&["audit", "--output=json", "--action", "warehouse."]);
    let listed: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(listed.len(), 1, "{lines}");
    assert_eq!(listed[0]["actor"], "sre-2");
    assert_eq!(listed[0]["action"], "warehouse.reset_offsets");
    let csv = lakehouse(&["--actor=x", "audit", "--output=csv"]);
    assert!(
        csv.starts_with("id,at,actor,action,outcome,arguments,result\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let table = lakehouse(&["audit", "--by", "sre-2"]);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(
        table.contains("warehouse.reset_offsets") && table.contains("ok"),
        "{table}"
    );
    assert_eq!(
        lakehouse(&["audit", "--by", "nobody"]).lines().count(),
        1,
        "only the header"
    );
}
