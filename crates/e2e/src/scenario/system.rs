//! Everything the scenario runs and reads: its own topic, database (with a login of its own) and
//! lake prefix on the stack, and the three service binaries as child processes (a second
//! stream-processor and delta-writer ready to join their groups).

use lakehouse_testkit::{Stack, TempDatabase, TestTopic, short_session_flag, unique};
use sqlx::PgPool;
use std::path::{Path, PathBuf};

use super::PARTITIONS;
use super::process::Service;
use super::settings::Secrets;
use crate::lake::Lake;
use crate::services::{free_port, wait_until_ready};

/// Everything the scenario runs and reads.
#[derive(Debug)]
pub struct System {
    pub stack: Stack,
    pub topic: TestTopic,
    pub database: TempDatabase,
    pub lake: Lake,
    /// The services' logs, one file each.
    pub logs: PathBuf,
    pub api: Service,
    /// The stream-processor that runs all along, and the one that joins and leaves.
    pub processors: Vec<Service>,
    /// The delta-writer that runs all along, and the one that joins and leaves.
    pub writers: Vec<Service>,
    pub api_url: String,
}

impl System {
    /// Makes the topic, the database and the lake, and starts the api, a stream-processor and a
    /// delta-writer; returns once the api is ready.
    pub async fn start(stack: Stack, secrets: &Secrets) -> Self {
        let topic = TestTopic::create(&stack, PARTITIONS).await;
        let database = TempDatabase::create(&stack).await;
        let database_url = own_login(&database, secrets.database_password.expose()).await;
        let logs = std::env::temp_dir().join(unique("scenario-logs"));
        std::fs::create_dir_all(&logs).expect("the log directory");
        let mut lake = Lake::on_stack(&stack, "scenario");
        lake.location.aws_secret_access_key = Some(secrets.s3_secret.clone());

        let port = free_port();
        let kafka = topic.flags(&stack);
        // Groups of this run only: a group the broker kept from an earlier run has no say here.
        let (warehouse_group, lake_group) = (unique("scenario-warehouse"), unique("scenario-lake"));
        let mut system = Self {
            api_url: format!("http://127.0.0.1:{port}"),
            api: api(&kafka, port, secrets, &logs),
            processors: (1..=2)
                .map(|n| processor(n, &kafka, &warehouse_group, &database_url, &logs))
                .collect(),
            writers: (1..=2)
                .map(|n| writer(n, &kafka, &lake_group, &lake, secrets, &logs))
                .collect(),
            stack,
            topic,
            database,
            lake,
            logs,
        };
        system.api.start();
        system.processors[0].start();
        system.writers[0].start();
        wait_until_ready(&system.api_url).await;
        system
    }

    /// A pool on the scenario's database (as the stack's user).
    pub async fn pool(&self) -> PgPool {
        PgPool::connect(&self.database.url)
            .await
            .expect("the scenario's database")
    }
}

/// The api on `port`, behind a trusted proxy (the generator's client addresses), with limits no
/// load of the scenario reaches.
fn api(kafka: &[String], port: u16, secrets: &Secrets, logs: &Path) -> Service {
    Service::new(
        "api",
        "lakehouse-api",
        kafka
            .iter()
            .cloned()
            .chain([
                format!("--listen-addr=127.0.0.1:{port}"),
                // The load generator stands in for the proxy: it sends each request's client.
                "--trusted-proxies=127.0.0.1".into(),
                "--visitor-id-secret-ephemeral".into(),
                "--produce-timeout-ms=3000".into(),
                "--rate-limit-project-events-per-sec=1000000".into(),
                "--rate-limit-project-burst=1000000".into(),
                "--rate-limit-ip-requests-per-sec=100000".into(),
                "--rate-limit-ip-burst=100000".into(),
            ])
            .collect(),
        // Secrets come from the environment, as in production.
        vec![
            (
                "API_KEYS".into(),
                format!("scenario:{}", secrets.api_key.expose()),
            ),
            ("VISITOR_ID_SECRET".into(), secrets.visitor_secret.expose().into()),
        ],
        logs,
    )
}

/// Stream-processor number `n` of the scenario's consumer group.
fn processor(n: usize, kafka: &[String], group: &str, database_url: &str, logs: &Path) -> Service {
    Service::new(
        &format!("stream-processor-{n}"),
        "lakehouse-stream-processor",
        kafka
            .iter()
            .cloned()
            .chain([
                format!("--group-id={group}"),
                "--metrics-addr=127.0.0.1:0".into(),
                "--flush-max-events=500".into(),
                "--flush-max-age-ms=200".into(),
                short_session_flag(),
            ])
            .collect(),
        vec![("DATABASE_URL".into(), database_url.into())],
        logs,
    )
}

/// Delta-writer number `n` of the scenario's consumer group, its S3 secret in the environment.
fn writer(n: usize, kafka: &[String], group: &str, lake: &Lake, secrets: &Secrets, logs: &Path) -> Service {
    Service::new(
        &format!("delta-writer-{n}"),
        "lakehouse-delta-writer",
        kafka
            .iter()
            .cloned()
            .chain(
                lake.flags()
                    .into_iter()
                    .filter(|flag| !flag.starts_with("--aws-secret")),
            )
            .chain([
                format!("--group-id={group}"),
                "--metrics-addr=127.0.0.1:0".into(),
                "--flush-max-age-ms=1000".into(),
                short_session_flag(),
            ])
            .collect(),
        vec![("AWS_SECRET_ACCESS_KEY".into(), secrets.s3_secret.expose().into())],
        logs,
    )
}

/// The stack's `lakehouse_scenario` login, given this run's password and the database.
async fn own_login(database: &TempDatabase, password: &str) -> String {
    const ROLE: &str = "lakehouse_scenario";
    let admin = PgPool::connect(&database.url)
        .await
        .expect("the scenario's database");
    let mut connection = admin.acquire().await.expect("a connection");
    for statement in [
        format!("ALTER DATABASE {} OWNER TO {ROLE}", database.name),
        // A login may set its own password; the stack's user is a member of it.
        format!("SET ROLE {ROLE}"),
        format!("ALTER ROLE {ROLE} PASSWORD '{password}'"),
        "RESET ROLE".into(),
    ] {
        sqlx::query(&statement)
            .execute(&mut *connection)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e} (a stack from before the scenario: `scripts/stack stop postgres; scripts/stack up`)"));
    }
    drop(connection);
    admin.close().await;
    let (scheme, rest) = database.url.split_once("://").expect("a URL");
    let (_, server) = rest.split_once('@').expect("credentials in the stack's URL");
    format!("{scheme}://{ROLE}:{password}@{server}")
}
