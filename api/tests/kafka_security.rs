//! `--kafka-security-protocol` reaches the real clients, not only the configuration maps: against
//! the stack's plaintext broker, the api's producer and a consumer built as the sink services
//! build theirs fail to reach it with `ssl` (they speak TLS to a broker that does not) and
//! succeed with `plaintext`, from the same flags otherwise. The api's readiness says so too.

use std::time::{Duration, Instant};

use clap::Parser;
use lakehouse_api::{ApiConfig, EventSink, KafkaSink};
use lakehouse_testkit::{Stack, TestTopic, sample_event, wait_until};
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio_util::sync::CancellationToken;

/// How long a client may take to find out; failing (or succeeding) takes far less.
const PATIENCE: Duration = Duration::from_secs(8);

fn config(stack: &Stack, topic: &TestTopic, protocol: &str) -> ApiConfig {
    let mut args = vec!["lakehouse-api".to_string()];
    args.extend(topic.flags(stack));
    args.extend([
        format!("--kafka-security-protocol={protocol}"),
        "--api-keys=shop:key-1".into(),
        "--visitor-id-secret-ephemeral".into(),
        "--log-format=pretty".into(),
    ]);
    let config = ApiConfig::parse_from(args);
    config.validate().expect("valid flags");
    config
}

/// Whether a consumer made from the service's consumer configuration gets the topic's metadata.
async fn consumer_reaches_the_broker(config: &ApiConfig) -> Result<(), String> {
    let consumer: BaseConsumer = config
        .kafka
        .consumer_config("lakehouse-security-test")
        .create()
        .map_err(|e| format!("create: {e}"))?;
    let topic = config.kafka.topic.clone();
    tokio::task::spawn_blocking(move || consumer.fetch_metadata(Some(&topic), PATIENCE))
        .await
        .expect("the metadata task")
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Whether the api's sink gets one event acknowledged.
async fn producer_reaches_the_broker(config: &ApiConfig) -> Result<(), String> {
    let sink = KafkaSink::new(&config.kafka, PATIENCE).map_err(|e| format!("create: {e}"))?;
    sink.send(&[sample_event("security")])
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_set_by_flag_reaches_the_producer_and_the_consumer() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    for (protocol, reaches) in [("plaintext", true), ("ssl", false)] {
        let config = config(&stack, &topic, protocol);
        for (client, outcome) in [
            ("consumer", consumer_reaches_the_broker(&config).await),
            ("producer", producer_reaches_the_broker(&config).await),
        ] {
            assert_eq!(
                outcome.is_ok(),
                reaches,
                "{client} with security.protocol={protocol}: {outcome:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_told_to_use_tls_against_a_plaintext_broker_is_not_ready() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let mut ready = Vec::new();
    for protocol in ["plaintext", "ssl"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}/ready", listener.local_addr().expect("an address"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(lakehouse_api::serve(
            config(&stack, &topic, protocol),
            listener,
            shutdown.clone(),
        ));
        let started = Instant::now();
        let status = wait_until(&format!("/ready to settle with {protocol}"), PATIENCE * 2, || {
            let url = url.clone();
            async move {
                let response = reqwest::get(&url).await.map_err(|e| e.to_string())?;
                match response.status().as_u16() {
                    200 => Ok(200),
                    // Not ready yet, or never: the latter once the first check has had its time.
                    503 if started.elapsed() > PATIENCE => Ok(503),
                    status => Err(format!("status {status}")),
                }
            }
        })
        .await;
        ready.push((protocol, status));
        shutdown.cancel();
        let _ = server.await;
    }
    assert_eq!(ready, [("plaintext", 200), ("ssl", 503)]);
}
