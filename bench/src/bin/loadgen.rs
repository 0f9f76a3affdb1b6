//! A load generator for `POST /analytics` (see `lakehouse_bench::load`). Reports throughput,
//! latency percentiles and errors by status, one JSON object on stdout.
//!
//!   loadgen --url http://127.0.0.1:3001/analytics --api-key KEY --concurrency 32 --duration-secs 20
//!   loadgen --url ... --rate 5000 --batch 50

use std::time::Duration;

use clap::Parser;
use lakehouse_bench::load::{self, Load};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "local-dev-key")]
    api_key: String,
    /// Closed loop: this many clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Open loop: start this many requests per second instead (at most `--concurrency` × 8 in
    /// flight; past it a start is counted as `dropped`).
    #[arg(long)]
    rate: Option<u32>,
    /// Events per request: 1 sends an event object, more a `{"batch": [...]}`.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Requests before this are not measured.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load = Load {
        concurrency: args.concurrency,
        rate: args.rate,
        batch: args.batch,
        duration: Duration::from_secs(args.duration_secs),
        warmup: Duration::from_secs(args.warmup_secs),
        ..Load::new(args.url, args.api_key)
    };
    let report = load::run(load.clone()).await?;
    #[expect(clippy::print_stdout, reason = "the report is the tool's output")]
    {
        println!("{}", report.summary(&load));
    }
    Ok(())
}
