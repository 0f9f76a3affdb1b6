//! The ingest service of DESIGN.md §4: apps `POST /analytics`; each event is authenticated,
//! validated, enriched and produced to Kafka, and a 2xx is only ever sent once Kafka acknowledged
//! every accepted event.

mod auth;
mod body;
mod client_ip;
mod config;
mod cors;
mod enrich;
mod error;
mod geoip;
mod keys;
mod payload;
mod rate_limit;
mod routes;
mod sink;
mod state;
pub mod stored_keys;
#[cfg(test)]
mod test_app;
mod user_agent;
mod visitor;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use client_ip::{TrustedProxies, TrustedProxiesError};
pub use config::{ApiCommand, ApiConfig, ApiKeysArg, HttpLimits, MOVED, RequestLimits};
pub use cors::{CorsError, CorsPolicy};
#[cfg(feature = "test-support")]
pub use geoip::test_database;
pub use geoip::{GeoIp, GeoIpError};
pub use keys::{ApiKeys, KeyError};
pub use rate_limit::{Rate, RateLimits};
pub use routes::app;
pub use sink::{EventSink, KafkaSink, MemorySink, SinkError};
pub use state::AppState;
pub use visitor::{PrivacyPolicy, VisitorIds, VisitorSecretError};

/// Builds the Kafka sink from `config` and serves on `listener` until `shutdown` is cancelled;
/// in-flight requests finish and the producer is flushed before it returns.
pub async fn serve(
    config: ApiConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let keys = config.api_keys.keys().context("API_KEYS")?;
    let cors = config
        .cors()
        .context("CORS_ALLOWED_ORIGINS / CORS_PROJECT_ORIGINS")?;
    let geoip = config.geoip().context("GEOIP_DATABASE")?;
    if keys.is_empty() && config.database_url.is_none() {
        tracing::warn!(
            "API_KEYS is empty and no DATABASE_URL holds keys: every request will be answered 401"
        );
    }
    let sink = Arc::new(KafkaSink::new(&config.kafka, config.produce_timeout())?);
    let health = lakehouse_telemetry::Health::new(env!("CARGO_PKG_VERSION"), &["kafka"]);
    tokio::spawn(sink.clone().watch(health.clone(), shutdown.clone()));
    let rate_limits = Arc::new(config.rate_limits());
    tokio::spawn(forget_idle_clients(rate_limits.clone(), shutdown.clone()));
    let key_store = Arc::new(stored_keys::KeyStore::new(keys));
    if let Some(url) = &config.database_url {
        let pool: Arc<dyn stored_keys::KeySource> = Arc::new(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect_lazy(url.expose())
                .context("DATABASE_URL")?,
        );
        match key_store.refresh(pool.as_ref()).await {
            Ok(count) => tracing::info!(keys = count, "API keys loaded (static and stored)"),
            Err(error) => {
                tracing::warn!(%error, "cannot load stored API keys yet; retrying in the background")
            }
        }
        tokio::spawn(
            key_store
                .clone()
                .refresh_every(pool, config.api_keys_refresh(), shutdown.clone()),
        );
    }
    let state = AppState::new(ApiKeys::default(), sink.clone(), config.limits(), health)
        .with_key_store(key_store)
        .with_rate_limits(rate_limits)
        .with_trusted_proxies(config.trusted_proxies.clone())
        .with_http_limits(config.http_limits())
        .with_visitors(config.visitor_ids()?, config.privacy_policy)
        .with_cors(cors)
        .with_geoip(geoip);
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[tokio::test]
    async fn an_unreadable_geoip_database_stops_the_start() {
        let config = ApiConfig::parse_from([
            "lakehouse-api",
            "--visitor-id-secret-ephemeral",
            "--geoip-database",
            "/nonexistent/country.mmdb",
        ]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        // Cancelled at once: were the database not checked, serve would start and stop cleanly.
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let error = serve(config, listener, shutdown).await.unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("GEOIP_DATABASE") && message.contains("/nonexistent/country.mmdb"),
            "{message}"
        );
    }
}
