//! The baseline the api is measured against: a bare axum `POST /analytics` that reads the body
//! and answers 202 `{"accepted": 1, "rejected": []}`, with no key, validation, enrichment or
//! Kafka. The api's throughput is quoted as a ratio of this one's, measured in the same run.
//!
//!   bare-api --listen 127.0.0.1:3002

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:3002")]
    listen: std::net::SocketAddr,
}

async fn accept(_body: Bytes) -> (StatusCode, &'static str) {
    (StatusCode::ACCEPTED, r#"{"accepted":1,"rejected":[]}"#)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = Router::new().route("/analytics", post(accept));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(shutdown.clone()));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
