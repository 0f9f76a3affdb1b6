//! A consumer service around one sink: `/health`, `/ready` and `/metrics`, the sink opened with
//! retries (a store that is down at start-up is waited for, not fatal), then the consume loop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_telemetry::Health;
use tokio_util::sync::CancellationToken;

use crate::batch::FlushPolicy;
use crate::config::KafkaArgs;
use crate::pipeline::{Pipeline, PipelineError};
use crate::retry::{self, Backoff};
use crate::sink::{BatchSink, SINK_CHECK};

/// What a consumer service is, apart from its sink.
#[derive(Debug, Clone)]
pub struct SinkService<'a> {
    pub kafka: &'a KafkaArgs,
    pub group_id: &'a str,
    /// This process's static member name in the group (`group.instance.id`); `None`: dynamic.
    pub group_instance_id: Option<&'a str>,
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
    let health = Health::new(service.version, &crate::readiness::CHECKS);
    let metrics = lakehouse_telemetry::metrics::install_prometheus();
    // The ops server stops with the service, also when a drain ends on its own.
    let ops_shutdown = shutdown.child_token();
    let ops = tokio::spawn(lakehouse_telemetry::serve_ops(
        listener,
        health.clone(),
        metrics,
        ops_shutdown.clone(),
    ));

    let failed = |error: &S::Error, wait: Duration| {
        health.set_failed(SINK_CHECK, error);
        tracing::error!(%error, retry_in_ms = wait.as_millis() as u64, "cannot open the sink; retrying");
    };
    let opening = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let Some(sink) = retry::until_cancelled(opening, &shutdown, &mut open, failed).await else {
        return Ok(());
    };
    health.set_ok(SINK_CHECK);

    let kafka = service.kafka;
    let pipeline = Pipeline::new(
        &kafka.member_config(service.group_id, service.group_instance_id),
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
