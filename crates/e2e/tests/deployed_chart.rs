//! The chart as an operator installs it, run as processes: every Deployment's and CronJob's
//! container of the rendered chart (`helm/lakehouse/ci`'s `defaults` and `full` value sets) with
//! its command and environment exactly as rendered, Secrets from values this test provides, and
//! only the cluster's names mapped to the local stack (`StackMapping`). The api runs as many
//! processes as the chart gives it replicas (the autoscaler's minimum where it owns them); where
//! the chart's Ingress is on, clients come through a proxy that appends `X-Forwarded-For` as an
//! ingress controller does. What is checked through it: `lakehouse_e2e::deployed`.

use lakehouse_e2e::deployed::{Deployed, Install};
use lakehouse_e2e::deployment::{Secrets, StackMapping, workloads};
use lakehouse_e2e::lake::Lake;
use lakehouse_e2e::tools;
use lakehouse_testkit::stack::setting;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, unique};
use serde_json::Value;

const STATIC_KEY: &str = "chart-static-key-0123456789";
const VISITOR_SECRET: &str = "chart-visitor-secret-0123456789abcdef";
const BROWSER_TOKEN: &str = "chart-lake-browser-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chart_with_its_defaults_runs_as_users_expect() {
    deploy_and_check("defaults").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chart_with_every_option_on_runs_as_users_expect() {
    deploy_and_check("full").await;
}

async fn deploy_and_check(set: &str) {
    let mut deployed = Deployed::start(install(set).await).await;
    deployed.one_visitor_is_one_visitor_everywhere().await;
    deployed.stored_keys_work_on_every_replica().await;
    deployed.the_ip_limit_is_per_client().await;
    deployed.every_event_lands_once_in_both_stores().await;
    let jobs: Vec<String> = deployed.job_names().into_iter().collect();
    assert_eq!(
        jobs,
        ["lakehouse-optimize", "lakehouse-reconcile", "lakehouse-vacuum"],
        "{set}: the lake's maintenance and the reconciliation are scheduled"
    );
    deployed.every_job_runs_as_rendered().await;
    deployed.the_lake_browser_asks_for_its_token().await;
    deployed.uninstall().await;
}

/// The chart's value set `set` rendered, with the Secrets an operator would have made.
async fn install(set: &str) -> Install {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let lake = Lake::on_stack(&stack, &format!("chart-{set}"));
    let dir = std::env::temp_dir().join(unique(&format!("chart-{set}")));
    std::fs::create_dir_all(&dir).expect("a folder for the logs");
    let geoip = dir.join("country.mmdb");
    std::fs::write(&geoip, geoip_database()).expect("the GeoIP file");
    let api_database_url = {
        let (_, server_and_database) = database.url.split_once('@').expect("a URL with a login");
        format!(
            "postgres://lakehouse_api:{}@{server_and_database}",
            setting("LAKEHOUSE_API_DB_PASSWORD")
        )
    };
    let secrets: Secrets = [
        ("lakehouse-api-keys", "API_KEYS", format!("shop:{STATIC_KEY}")),
        ("lakehouse-visitor-id", "VISITOR_ID_SECRET", VISITOR_SECRET.into()),
        ("lakehouse-database", "DATABASE_URL", database.url.clone()),
        ("lakehouse-api-database", "DATABASE_URL", api_database_url),
        (
            "lakehouse-lake",
            "AWS_ACCESS_KEY_ID",
            stack.aws_access_key_id.clone(),
        ),
        (
            "lakehouse-lake",
            "AWS_SECRET_ACCESS_KEY",
            stack.aws_secret_access_key.clone(),
        ),
        (
            "lakehouse-kafka",
            "KAFKA_SASL_PASSWORD",
            "the-local-broker-has-no-sasl".into(),
        ),
        (
            "lakehouse-lake-browser",
            "LAKE_BROWSER_TOKEN",
            BROWSER_TOKEN.into(),
        ),
        (
            "lakehouse-cors",
            "CORS_PROJECT_ORIGINS",
            "shop=https://shop.example".into(),
        ),
    ]
    .into_iter()
    .map(|(name, key, value)| ((name.to_string(), key.to_string()), value))
    .collect();
    let report = tools::chart_value_sets();
    let manifests: Vec<Value> = report[set]["manifests"].as_array().expect("manifests").clone();
    Install {
        label: format!("chart {set}"),
        workloads: workloads(&manifests, &secrets),
        ingress: manifests.iter().any(|m| m["kind"] == "Ingress"),
        map: StackMapping {
            stack,
            topic,
            lake_uri: lake.location.uri.clone(),
            groups: unique("chart"),
            geoip: Some(geoip.display().to_string()),
            database_host: None,
        },
        database,
        lake,
        dir,
        key: STATIC_KEY.into(),
        browser_token: BROWSER_TOKEN.into(),
    }
}

/// A country database for the volume the full value set mounts (the clients here are on
/// loopback, which no database places).
fn geoip_database() -> Vec<u8> {
    use lakehouse_api::test_database::{TestDatabase, country};
    TestDatabase::new().network("81.2.69.0/24", country("DE")).build()
}
