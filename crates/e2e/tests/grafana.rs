//! Every Grafana dashboard shows something: each SQL panel, with its macros and template variables
//! expanded as Grafana would, runs as the read-only login `lakehouse_grafana` against a migrated
//! warehouse filled through the stream-processor's own batch writer, and returns rows with the
//! columns the panel displays. Every PromQL expression names only metrics our services (or the
//! standard exporters beside them) expose.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::Duration;
use lakehouse_event::{Batch, Record};
use lakehouse_testkit::dashboards::{
    POSTGRES, PROMETHEUS, dashboards, expanded, panels, run, source_type, variables,
};
use lakehouse_testkit::grafana_sql::{Range, Value as Variable};
use lakehouse_testkit::stack::setting;
use lakehouse_testkit::{Stack, TempDatabase, reference_event, workload};
use lakehouse_warehouse::Warehouse;
use lakehouse_warehouse::grants::Roles;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Column, ConnectOptions, PgConnection, Row};

/// Events of the reference workload loaded for the dashboards: every derived table gets rows for
/// every day, type and dimension.
const SAMPLE_EVENTS: u64 = 10_000;

fn grafana_dir() -> PathBuf {
    lakehouse_testkit::repo::path("grafana")
}

/// The columns a panel displays by name: field overrides, transformations, the x field of a bar
/// chart, and the `time` column of a time series.
fn used_columns(panel: &Value, target: &Value) -> BTreeSet<String> {
    let mut columns = BTreeSet::new();
    for rule in panel["fieldConfig"]["overrides"].as_array().into_iter().flatten() {
        if rule["matcher"]["id"] == "byName"
            && let Some(name) = rule["matcher"]["options"].as_str()
        {
            columns.insert(name.to_string());
        }
    }
    for transformation in panel["transformations"].as_array().into_iter().flatten() {
        for key in ["indexByName", "renameByName", "excludeByName"] {
            if let Some(names) = transformation["options"][key].as_object() {
                columns.extend(names.keys().cloned());
            }
        }
    }
    if let Some(x) = panel["options"]["xField"].as_str() {
        columns.insert(x.to_string());
    }
    if target["format"] == "time_series" {
        columns.insert("time".to_string());
    }
    columns
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

/// A migrated warehouse holding the reference workload, written by the processor's batch writer
/// and fold (so the derived tables fill as in production).
async fn sample_warehouse(database: &TempDatabase) {
    let warehouse = Warehouse::connect_lazy(&database.url, "grafana-test").expect("a pool");
    warehouse.migrate(&Roles::default()).await.expect("migrations");
    for chunk in 0..SAMPLE_EVENTS / 2_000 {
        let mut batch = Batch::new("analytics.events");
        for index in chunk * 2_000..(chunk + 1) * 2_000 {
            let record = Record {
                event: reference_event(21, index),
                partition: (index % 6) as i32,
                offset: index as i64,
            };
            batch.push(record);
        }
        warehouse.write_batch(&batch).await.expect("a batch");
    }
    warehouse.fold().await.expect("the derived rows");
}

/// Grafana's login: `scripts/stack` makes it, with the password of its settings.
async fn grafana_login(database: &TempDatabase) -> PgConnection {
    let password = setting("LAKEHOUSE_GRAFANA_DB_PASSWORD");
    database
        .url
        .parse::<PgConnectOptions>()
        .expect("the database URL")
        .username("lakehouse_grafana")
        .password(&password)
        .connect()
        .await
        .expect("lakehouse_grafana logs in (scripts/stack makes it)")
}

/// What is wrong with one SQL target, if anything.
async fn check_target(
    connection: &mut PgConnection,
    panel: &Value,
    target: &Value,
    variables: &[(String, Variable)],
    range: &Range,
) -> Result<(), String> {
    let sql = expanded(target, variables, range)?;
    let rows = run(connection, &sql).await?;
    let Some(first) = rows.first() else {
        return Err(format!("no rows\n  SQL: {sql}"));
    };
    let returned: BTreeSet<String> = first.columns().iter().map(|c| c.name().to_string()).collect();
    let used = used_columns(panel, target);
    if used.is_empty() {
        return Err(
            "the panel names no column (override, transformation or time), so nothing can be checked".into(),
        );
    }
    let missing: Vec<_> = used.difference(&returned).collect();
    if !missing.is_empty() {
        return Err(format!(
            "columns {missing:?} are used but not returned (got {returned:?})"
        ));
    }
    let nulls: Vec<_> = (0..first.len())
        .filter(|&i| first.try_get_raw(i).is_ok_and(|v| sqlx::ValueRef::is_null(&v)))
        .map(|i| first.columns()[i].name().to_string())
        .collect();
    if rows.len() == 1 && !nulls.is_empty() {
        return Err(format!(
            "one row whose {nulls:?} is NULL: the panel would show nothing"
        ));
    }
    Ok(())
}

#[tokio::test]
async fn every_sql_panel_returns_rows_with_the_columns_it_shows() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    sample_warehouse(&database).await;
    let mut grafana = grafana_login(&database).await;
    let range = data_range();

    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, dashboard) in dashboards() {
        let sql_panels: Vec<_> = panels(&dashboard)
            .into_iter()
            .filter(|p| {
                p["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| source_type(p, t) == POSTGRES)
            })
            .collect();
        if sql_panels.is_empty() {
            continue;
        }
        let variables = match variables(&mut grafana, &dashboard, &range).await {
            Ok(variables) => variables,
            Err(error) => {
                failures.push(format!("{file}: template variables: {error}"));
                continue;
            }
        };
        for panel in sql_panels {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if source_type(panel, target) != POSTGRES {
                    continue;
                }
                checked += 1;
                if let Err(error) = check_target(&mut grafana, panel, target, &variables, &range).await {
                    failures.push(format!(
                        "{file} / {} / {}: {error}",
                        panel["title"], target["refId"]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} SQL targets fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 20, "only {checked} SQL targets found");
}

#[test]
fn promql_names_only_metrics_that_exist() {
    let known = lakehouse_e2e::promql::known_metrics();
    let mut unknown = Vec::new();
    let mut expressions = 0;
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if source_type(panel, target) != PROMETHEUS {
                    continue;
                }
                let expr = target["expr"].as_str().unwrap_or_default();
                let names = lakehouse_e2e::promql::metric_names(expr);
                assert!(
                    !names.is_empty(),
                    "{file} / {}: no metric in {expr:?}",
                    panel["title"]
                );
                expressions += 1;
                unknown.extend(
                    names
                        .into_iter()
                        .filter(|name| !known.contains(name))
                        .map(|name| format!("{file} / {}: {name} in {expr}", panel["title"])),
                );
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics nothing exposes:\n{}",
        unknown.join("\n")
    );
    assert!(expressions >= 8, "only {expressions} PromQL expressions found");
}

#[test]
fn every_panel_uses_a_provisioned_data_source() {
    let provisioning = std::fs::read_to_string(grafana_dir().join("provisioning/datasources/lakehouse.yaml"))
        .expect("the data source provisioning");
    // The warehouse is read through the read-only login, with the password from the environment.
    assert!(provisioning.contains("user: lakehouse_grafana"), "{provisioning}");
    assert!(
        provisioning.contains("password: ${LAKEHOUSE_GRAFANA_DB_PASSWORD}"),
        "{provisioning}"
    );
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            let uid = panel["datasource"]["uid"].as_str().unwrap_or_default();
            assert!(
                provisioning.contains(&format!("uid: {uid}\n")) && !uid.is_empty(),
                "{file} / {}: data source {uid:?} is not provisioned",
                panel["title"]
            );
        }
    }
}
