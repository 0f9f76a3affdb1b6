//! The Grafana dashboards' SQL, as Grafana would send it: every dashboard file of `grafana/`, its
//! panels (with those nested in collapsed rows), the SQL targets among them, and the template
//! variables' values, each from its own query, so that a test runs the very queries a person's
//! dashboard runs (`crates/e2e/tests/grafana.rs`, `cli/tests/project_readers.rs`).

use std::path::PathBuf;

use serde_json::Value;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use crate::grafana_sql::{Range, Value as Variable, expand_macros, expand_variables};

/// The data source type of the warehouse's panels.
pub const POSTGRES: &str = "grafana-postgresql-datasource";
/// The data source type of the metrics' panels.
pub const PROMETHEUS: &str = "prometheus";

/// Every dashboard file, by name, in name order.
pub fn dashboards() -> Vec<(String, Value)> {
    let dir = crate::repo::path("grafana").join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the four dashboards, found {files:?}");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a dashboard");
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            (
                path.file_name().expect("a name").to_string_lossy().into_owned(),
                json,
            )
        })
        .collect()
}

/// The panels of a dashboard, with those nested in collapsed rows.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all.into_iter().filter(|p| p["type"] != "row").collect()
}

/// The data source type of a target (its own, or its panel's).
pub fn source_type<'a>(panel: &'a Value, target: &'a Value) -> &'a str {
    target["datasource"]["type"]
        .as_str()
        .or_else(|| panel["datasource"]["type"].as_str())
        .unwrap_or_default()
}

/// The warehouse's targets of a dashboard, each with its panel.
pub fn sql_targets(dashboard: &Value) -> Vec<(&Value, &Value)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(move |target| source_type(panel, target) == POSTGRES)
                .map(move |target| (panel, target))
        })
        .collect()
}

/// Runs `sql` as it is (several statements allowed, as Grafana's are one), its error with the SQL.
pub async fn run(connection: &mut PgConnection, sql: &str) -> Result<Vec<PgRow>, String> {
    sqlx::raw_sql(sql)
        .fetch_all(connection)
        .await
        .map_err(|e| format!("{e}\n  SQL: {sql}"))
}

/// The values of the dashboard's template variables, each from its own query as Grafana runs it
/// (a variable may use those before it).
pub async fn variables(
    connection: &mut PgConnection,
    dashboard: &Value,
    range: &Range,
) -> Result<Vec<(String, Variable)>, String> {
    use sqlx::Row;
    let mut values = Vec::new();
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        let name = variable["name"].as_str().unwrap_or_default().to_string();
        let query = variable["query"]
            .as_str()
            .or_else(|| variable["query"]["query"].as_str())
            .ok_or_else(|| format!("variable {name} has no query"))?;
        let sql = expand_macros(&expand_variables(query, &values), range)?;
        let rows = run(connection, &sql).await?;
        let found: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let Some(first) = found.first().cloned() else {
            return Err(format!("variable {name} has no value: {sql}"));
        };
        let value = if variable["multi"] == true {
            Variable::Multi(found)
        } else {
            Variable::Single(first)
        };
        values.push((name, value));
    }
    Ok(values)
}

/// A target's SQL with the variables' values and the range put in, as Grafana sends it.
pub fn expanded(target: &Value, variables: &[(String, Variable)], range: &Range) -> Result<String, String> {
    let raw = target["rawSql"].as_str().ok_or("no rawSql")?;
    expand_macros(&expand_variables(raw, variables), range)
}
