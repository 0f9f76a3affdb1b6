//! `compose.yaml` as an operator starts it, run as processes (there is no Docker engine here):
//! each of our services with its command and its environment as compose interpolates it from a
//! `.env` that fills every value `.env.example` lists, and only compose's service names mapped to
//! the local stack (`StackMapping`). Through it, as for the chart: visitor ids across the api's
//! restarts, stored keys, the IP limit per client, every event once in both stores, and the lake
//! browser's token (`lakehouse_e2e::deployed`).

use std::collections::BTreeMap;

use lakehouse_e2e::deployed::{Deployed, Install};
use lakehouse_e2e::deployment::{StackMapping, compose_workloads};
use lakehouse_e2e::lake::Lake;
use lakehouse_e2e::tools;
use lakehouse_testkit::stack::setting;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, unique};

const API_KEY: &str = "compose-key-0123456789";
const BROWSER_TOKEN: &str = "compose-lake-browser-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compose_with_a_filled_in_env_file_runs_as_users_expect() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let lake = Lake::on_stack(&stack, "compose");
    let dir = std::env::temp_dir().join(unique("compose"));
    std::fs::create_dir_all(&dir).expect("a folder for the logs");

    let dotenv = filled_in_env_file(&stack);
    let workloads = compose_workloads(&tools::yaml("compose.yaml"), &dotenv);
    let install = Install {
        label: "compose".into(),
        workloads,
        // The api's port is published as it is: clients reach it directly.
        ingress: false,
        map: StackMapping {
            stack,
            topic,
            lake_uri: lake.location.uri.clone(),
            groups: unique("compose"),
            geoip: None,
            database_host: Some((
                "timescaledb:5432/lakehouse".into(),
                format!(
                    "127.0.0.1:{}/{}",
                    port_of(&setting("DATABASE_URL")),
                    database.name
                ),
            )),
        },
        database,
        lake,
        dir,
        key: API_KEY.into(),
        browser_token: BROWSER_TOKEN.into(),
    };
    let mut deployed = Deployed::start(install).await;
    deployed.one_visitor_is_one_visitor_everywhere().await;
    deployed.stored_keys_work_on_every_replica().await;
    deployed.the_ip_limit_is_per_client().await;
    deployed.every_event_lands_once_in_both_stores().await;
    deployed.the_lake_browser_asks_for_its_token().await;
    deployed.uninstall().await;
}

/// `.env` as an operator fills it in from `.env.example`: every listed variable has a value
/// (the stack's own credentials where compose's services would share them).
fn filled_in_env_file(stack: &Stack) -> BTreeMap<String, String> {
    let pg_password = {
        let url = &stack.database_url;
        let login = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(l, _)| l);
        login
            .and_then(|l| l.split_once(':'))
            .map(|(_, p)| p.to_string())
            .expect("a password")
    };
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("POSTGRES_PASSWORD", pg_password),
        (
            "LAKEHOUSE_GRAFANA_DB_PASSWORD",
            setting("LAKEHOUSE_GRAFANA_DB_PASSWORD"),
        ),
        ("LAKEHOUSE_API_DB_PASSWORD", setting("LAKEHOUSE_API_DB_PASSWORD")),
        ("MINIO_ROOT_USER", "minio-admin".into()),
        ("MINIO_ROOT_PASSWORD", "minio-admin-password".into()),
        ("LAKE_ACCESS_KEY_ID", stack.aws_access_key_id.clone()),
        ("LAKE_SECRET_ACCESS_KEY", stack.aws_secret_access_key.clone()),
        ("GRAFANA_ADMIN_PASSWORD", "grafana-admin-password".into()),
        ("API_KEYS", format!("shop:{API_KEY}")),
        (
            "VISITOR_ID_SECRET",
            "compose-visitor-secret-0123456789abcdef".into(),
        ),
        ("LAKE_BROWSER_TOKEN", BROWSER_TOKEN.into()),
    ]);
    let example = std::fs::read_to_string(tools::repo().join(".env.example")).expect(".env.example");
    let mut dotenv = BTreeMap::new();
    for line in example.lines().map(str::trim) {
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        let value = values
            .get(name)
            .unwrap_or_else(|| panic!(".env.example lists {name}, which this test does not fill in"));
        dotenv.insert(name.to_string(), value.clone());
    }
    dotenv
}

/// The port of a `postgres://` URL.
fn port_of(url: &str) -> String {
    let (_, after) = url.rsplit_once('@').expect("a URL with a login");
    let host_port = after.split('/').next().unwrap_or_default();
    host_port.rsplit_once(':').map_or("5432", |(_, p)| p).to_string()
}
