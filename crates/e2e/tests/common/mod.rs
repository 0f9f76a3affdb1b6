//! What more than one end-to-end test starts: the three services of the pipeline in this
//! test, on the test's own topic, database and lake: the api and the delta-writer in this process,
//! the stream-processor as its binary (the warehouse's service crate is a binary's, not a library
//! tests link).

#![allow(dead_code, reason = "each test target uses its own part")]

use clap::Parser;
use lakehouse_api::ApiConfig;
use lakehouse_delta_writer::WriterConfig;
use lakehouse_testkit::{Running, Stack, TempDatabase, TestTopic, binary, unique};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The three services of the pipeline, running in this process on the test's own topic, database
/// and lake.
pub struct Pipeline {
    pub api_url: String,
    api_key: String,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    processor: Running,
}

impl Pipeline {
    /// Starts the three services; the api takes `api_key` for project `project`, and the writer
    /// writes the lake `lake` names (its `--lake-uri` and S3 flags).
    pub async fn start(
        stack: &Stack,
        topic: &TestTopic,
        database: &TempDatabase,
        lake: &[String],
        (project, api_key): (&str, &str),
    ) -> Self {
        let shutdown = CancellationToken::new();
        let kafka = topic.flags(stack);
        let args = |binary: &str, own: &[String]| -> Vec<String> {
            std::iter::once(binary.to_string())
                .chain(kafka.iter().cloned())
                .chain(own.iter().cloned())
                .chain(["--log-format=pretty".to_string()])
                .collect()
        };

        let api = ApiConfig::parse_from(args(
            "api",
            &[
                format!("--api-keys={project}:{api_key}"),
                "--visitor-id-secret-ephemeral".into(),
            ],
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let api_url = format!(
            "http://{}/analytics",
            listener.local_addr().expect("the bound address")
        );

        let processor = args(
            "stream-processor",
            &[
                format!("--database-url={}", database.url),
                format!("--group-id={}", unique("warehouse")),
                "--metrics-addr=127.0.0.1:0".into(),
                "--flush-max-age-ms=200".into(),
            ],
        );
        let processor = Running::spawn(
            tokio::process::Command::new(binary("lakehouse-stream-processor")).args(&processor[1..]),
            "the stream-processor",
        );
        let mut writer_flags = vec![
            format!("--group-id={}", unique("lake")),
            "--metrics-addr=127.0.0.1:0".into(),
            "--flush-max-age-ms=500".into(),
        ];
        writer_flags.extend(lake.iter().cloned());
        let writer = WriterConfig::parse_from(args("delta-writer", &writer_flags));

        let tasks = vec![
            tokio::spawn(lakehouse_api::serve(api, listener, shutdown.clone())),
            tokio::spawn(lakehouse_delta_writer::run(writer, shutdown.clone())),
        ];
        Self {
            api_url,
            api_key: api_key.to_string(),
            shutdown,
            tasks,
            processor,
        }
    }

    /// Posts `body` with the pipeline's key; the status and the JSON answer.
    pub async fn post(&self, body: &Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(&self.api_url)
            .header("x-api-key", &self.api_key)
            .json(body)
            .send()
            .await
            .expect("the api answers");
        (
            response.status().as_u16(),
            response.json().await.expect("a JSON answer"),
        )
    }

    /// Stops the three and checks each stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.processor.stop().await;
        for task in self.tasks {
            task.await
                .expect("the service task did not panic")
                .expect("the service stopped cleanly");
        }
    }
}
