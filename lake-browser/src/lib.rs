//! The lake browser of DESIGN.md §15: server-rendered pages over each table of the lake — the list
//! of tables, and per table its overview, history, time travel and the diff of two versions, a
//! read-only SQL console and a restore preview — reading everything through `crates/lake`. No
//! script runs in its pages.

mod access;
mod chart;
mod chosen;
mod config;
mod error;
mod examples;
mod layout;
mod pages;
mod result_chart;
mod routes;
mod selection;
mod state;

use std::sync::Arc;
use std::time::Duration;

use lakehouse_lake::{AsOf, LakeLocation, NoTable, open_at};
use lakehouse_telemetry::Health;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use access::{COOKIE, SECURITY_HEADERS};
pub use config::{BrowserConfig, DEFAULT_LISTEN_ADDR, MIN_TOKEN_LENGTH};
pub use error::PageError;
pub use examples::{EXAMPLES, Example};
pub use layout::age;
pub use routes::app;
pub use state::{AppState, Settings};

/// How often `/ready` checks that the lake answers.
const LAKE_CHECK_EVERY: Duration = Duration::from_secs(30);

/// Serves the pages on `listener` until `shutdown` is cancelled.
pub async fn serve(
    config: BrowserConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let addr = listener.local_addr()?;
    anyhow::ensure!(
        config.token.is_some() || addr.ip().is_loopback(),
        "LAKE_BROWSER_TOKEN is required when listening on {addr}, which is not loopback"
    );
    let health = Health::new(env!("CARGO_PKG_VERSION"), &["lake"]);
    let state = AppState::new(config.location(), Settings::from(&config), health.clone())?;
    tokio::spawn(watch_lake(state.location.clone(), health, shutdown.clone()));
    let metrics = lakehouse_telemetry::metrics::install_prometheus();
    tracing::info!(
        %addr,
        lake = %config.lake.lake_uri,
        token_required = config.token.is_some(),
        allow_restore = config.allow_restore,
        query_concurrency = config.query_concurrency,
        query_timeout_secs = config.query_timeout_secs,
        query_memory_limit_mib = config.query_memory_limit_mib,
        "lake browser listening"
    );
    // Running queries are stopped as soon as shutdown begins (their pages are answered at once),
    // so the graceful shutdown waits on no query, and on no query thread.
    let queries = Arc::clone(&state.queries);
    let stopping = async move {
        shutdown.cancelled().await;
        queries.shutdown();
    };
    axum::serve(listener, app(state, metrics))
        .with_graceful_shutdown(stopping)
        .await?;
    Ok(())
}

/// Keeps the `lake` readiness check current: the store answers (a lake without a table yet
/// counts: the pages say so).
async fn watch_lake(location: Arc<LakeLocation>, health: Health, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(LAKE_CHECK_EVERY);
    while shutdown.run_until_cancelled(every.tick()).await.is_some() {
        match open_at(&location, &AsOf::default()).await {
            Ok(_) => health.set_ok("lake"),
            Err(error) if error.operation::<NoTable>().is_some() => health.set_ok("lake"),
            Err(error) => {
                tracing::warn!(%error, "the lake does not answer; /ready fails until it does");
                health.set_failed("lake", error);
            }
        }
    }
}
