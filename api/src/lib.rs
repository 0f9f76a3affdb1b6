//! The ingest service of DESIGN.md §4: apps `POST /analytics`; each event is authenticated,
//! validated, enriched and produced to Kafka, and a 2xx is only ever sent once Kafka acknowledged
//! every accepted event.

mod body;
mod config;
mod encoding;
mod enrich;
mod error;
mod keys;
mod rate_limit;
mod routes;
mod sink;
mod user_agent;
mod visitor;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{ApiConfig, PrivacySignals};
pub use keys::{ApiKeys, KeyError};
pub use rate_limit::{Rate, RateLimits};
pub use routes::{AppState, app};
pub use sink::{EventSink, KafkaSink, MemorySink, SinkError};
pub use visitor::VisitorIds;

/// Builds the Kafka sink from `config` and serves on `listener` until `shutdown` is cancelled;
/// in-flight requests finish and the producer is flushed before it returns.
pub async fn serve(
    config: ApiConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let keys = ApiKeys::parse(&config.api_keys).context("API_KEYS")?;
    if keys.is_empty() {
        tracing::warn!("API_KEYS is empty: every request will be answered 401");
    }
    let sink = Arc::new(KafkaSink::new(&config.kafka, config.produce_timeout())?);
    let health = lakehouse_telemetry::Health::new(env!("CARGO_PKG_VERSION"), &["kafka"]);
    tokio::spawn(sink.clone().watch(health.clone(), shutdown.clone()));
    let rate_limits = Arc::new(config.rate_limits());
    tokio::spawn(forget_idle_clients(rate_limits.clone(), shutdown.clone()));
    let state = AppState::new(keys, sink.clone(), config.limits(), health)
        .with_rate_limits(rate_limits)
        .with_http_limits(config.http_limits())
        .with_visitors(
            config.visitor_ids(),
            config.privacy_signals == PrivacySignals::Honor,
        );
    let metrics = lakehouse_telemetry::metrics::install_prometheus();
    tracing::info!(addr = %listener.local_addr()?, topic = %config.kafka.topic, "api listening");
    axum::serve(
        listener,
        app(state, metrics).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await?;
    tracing::info!("flushing the producer");
    sink.flush(config.produce_timeout());
    Ok(())
}

/// Drops the rate-limit buckets of clients that went quiet, every minute.
async fn forget_idle_clients(limits: Arc<RateLimits>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    while shutdown.run_until_cancelled(every.tick()).await.is_some() {
        limits.forget_idle();
    }
}
