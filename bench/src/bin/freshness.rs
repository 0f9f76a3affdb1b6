//! The warehouse's freshness under load (DESIGN.md §13): posts events to a running api at a fixed
//! rate, then measures, as the reliability scenario does, each accepted event's time from its 2xx
//! to its row's `ingested_at` in `events` ([`load::freshness`]). Prints one JSON object.
//!
//!   freshness --url http://127.0.0.1:3901/analytics --api-key KEY --database-url URL --rate 300 --batch 50

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
use lakehouse_bench::load::{self, Load};
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(about = "2xx-to-row latency of the warehouse at a fixed rate")]
struct Args {
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "local-dev-key")]
    api_key: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Requests started per second (open loop).
    #[arg(long)]
    rate: u32,
    /// Events per request.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// How long to wait, after the load, for every accepted event to be stored.
    #[arg(long, default_value_t = 120)]
    patience_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    lakehouse_telemetry::init_logging("bench-freshness", lakehouse_telemetry::LogFormat::Pretty);
    let load = Load {
        concurrency: 32,
        rate: Some(args.rate),
        batch: args.batch,
        duration: Duration::from_secs(args.duration_secs),
        warmup: Duration::ZERO,
        track: true,
        ..Load::new(&args.url, &args.api_key)
    };
    let report = load::run(load.clone()).await?;
    let ids: Vec<Uuid> = report.accepted.iter().map(|a| a.event_id).collect();
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    let deadline = Instant::now() + Duration::from_secs(args.patience_secs);
    let stored: Vec<(Uuid, DateTime<Utc>)> = loop {
        let rows: Vec<(Uuid, DateTime<Utc>)> =
            sqlx::query_as("SELECT event_id, ingested_at FROM events WHERE event_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&pool)
                .await?;
        if rows.len() == ids.len() {
            break rows;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {} accepted events stored after {} s",
            rows.len(),
            ids.len(),
            args.patience_secs
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let visible: HashMap<Uuid, DateTime<Utc>> = stored.into_iter().collect();
    let summary = json!({
        "load": report.summary(&load),
        "freshness": load::freshness(&report.accepted, &visible),
    });
    #[expect(clippy::print_stdout, reason = "the report is the tool's output")]
    {
        println!("{summary}");
    }
    Ok(())
}
