//! A consumer service around one sink: `/health`, `/ready` and `/metrics`, the sink opened with
//! retries (a store that is down at start-up is waited for, not fatal), then the consume loop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_telemetry::Health;
use tokio_util::sync::CancellationToken;

use crate::batch::FlushPolicy;
use crate::config::KafkaArgs;
use crate::pipeline::{BatchSink, Pipeline, PipelineError, SINK_CHECK};

/// What a consumer service is, apart from its sink.
#[derive(Debug, Clone)]
pub struct SinkService<'a> {
    pub kafka: &'a KafkaArgs,
    pub group_id: &'a str,
    pub metrics_addr: SocketAddr,
    pub policy: FlushPolicy,
    /// The service's version, reported by `/health`.
    pub version: &'static str,
    /// Drain mode: stop once caught up with the end of every assigned partition.
    pub until_caught_up: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// `METRICS_ADDR` is taken: the service refuses to start rather than run unprobed.
    #[error(transparent)]
    Bind(#[from] lakehouse_telemetry::BindError),
    #[error("cannot serve /health, /ready and /metrics: {0}")]
    Ops(#[from] std::io::Error),
}

/// A doubling wait between retries, capped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self { next: first, max }
    }

    /// How long the coming wait is.
    pub(crate) fn peek(&self) -> Duration {
        self.next
    }

    /// Waits, then doubles the next wait; false when `cancel` fires first.
    pub(crate) async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }
}

/// Serves the ops endpoints, opens the sink with `open` (retried with backoff while it fails),
/// then consumes until `shutdown` is cancelled.
pub async fn run_sink<S, F, Fut>(
    service: SinkService<'_>,
    mut open: F,
    shutdown: CancellationToken,
) -> Result<(), ServiceError>
where
    S: BatchSink,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S, S::Error>>,
{
    // Bound before anything else: a service that cannot be probed must not consume.
    let listener =
        lakehouse_telemetry::bind(service.metrics_addr, lakehouse_telemetry::OPS_ENDPOINTS).await?;
    let health = Health::new(service.version, &Pipeline::<S>::CHECKS);
    let metrics = lakehouse_telemetry::metrics::install_prometheus();
    // The ops server stops with the service, also when a drain ends on its own.
    let ops_shutdown = shutdown.child_token();
    let ops = tokio::spawn(lakehouse_telemetry::serve_ops(
        listener,
        health.clone(),
        metrics,
        ops_shutdown.clone(),
    ));

    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let sink = loop {
        match open().await {
            Ok(sink) => break sink,
            Err(error) => {
                health.set_failed(SINK_CHECK, &error);
                tracing::error!(%error, retry_in_ms = backoff.peek().as_millis() as u64, "cannot open the sink; retrying");
            }
        }
        if !backoff.wait(&shutdown).await {
            return Ok(());
        }
    };
    health.set_ok(SINK_CHECK);

    let kafka = service.kafka;
    let pipeline = Pipeline::new(
        &kafka.consumer_config(service.group_id),
        &kafka.producer_config(Duration::from_secs(10)),
        &kafka.topic,
        &kafka.dlq_topic,
        service.policy,
        sink,
        health,
    )?
    .until_caught_up(service.until_caught_up);
    let outcome = pipeline.run(shutdown).await;
    ops_shutdown.cancel();
    match ops.await {
        Ok(result) => result?,
        Err(join) => tracing::error!(error = %join, "the ops server task failed"),
    }
    Ok(outcome?)
}
