//! A load generator for `POST /analytics`: closed loop (N clients, each sending its next request
//! when the last is answered) or open loop (requests started at a fixed rate, answered or not, up
//! to a cap of requests in flight), single events or batches. Reports throughput, latency
//! percentiles and errors by status, one JSON object on stdout.
//!
//!   loadgen --url http://127.0.0.1:3001/analytics --api-key KEY --concurrency 32 --duration-secs 20
//!   loadgen --url ... --rate 5000 --batch 50

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

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

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
    events_accepted: u64,
    dropped: u64,
}

fn body(batch: usize, n: u64) -> Value {
    let event = |i: u64| {
        json!({
            "event_type": if i.is_multiple_of(5) { "click" } else { "page_view" },
            "session_id": format!("load-{}", i % 5000),
            "url": format!("https://shop.example/p/{}", i % 300),
            "referrer": "https://search.example/?q=shoes",
            "title": "A product page",
            "properties": {"plan": "pro", "ab": i % 2},
        })
    };
    if batch <= 1 {
        event(n)
    } else {
        json!({"batch": (0..batch as u64).map(|i| event(n * batch as u64 + i)).collect::<Vec<_>>()})
    }
}

async fn one(client: &reqwest::Client, args: &Args, n: u64, tally: &Mutex<Tally>, measured_from: Instant) {
    let started = Instant::now();
    let outcome = client
        .post(&args.url)
        .header("x-api-key", &args.api_key)
        .json(&body(args.batch, n))
        .send()
        .await;
    let took = started.elapsed();
    if started < measured_from {
        return;
    }
    let mut tally = tally.lock().await;
    tally.latencies_us.push(took.as_micros() as u64);
    let status = match outcome {
        Ok(response) => {
            let status = response.status().as_u16();
            if status == 202 {
                // Every event the generator sends is valid: a 202 accepts all of them. (Counting
                // them here rather than reading the answer keeps the bare baseline comparable.)
                tally.events_accepted += args.batch.max(1) as u64;
            }
            status.to_string()
        }
        Err(error) if error.is_timeout() => "timeout".into(),
        Err(_) => "connection_error".into(),
    };
    *tally.statuses.entry(status).or_default() += 1;
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency * 8)
        .build()?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let measured_from = start + Duration::from_secs(args.warmup_secs);
    let end = measured_from + Duration::from_secs(args.duration_secs);
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));

    match args.rate {
        None => {
            let mut clients = Vec::new();
            for _ in 0..args.concurrency {
                let (client, args, tally, counter) =
                    (client.clone(), args.clone(), tally.clone(), counter.clone());
                clients.push(tokio::spawn(async move {
                    while Instant::now() < end {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        one(&client, &args, n, &tally, measured_from).await;
                    }
                }));
            }
            for client in clients {
                client.await?;
            }
        }
        Some(rate) => {
            let in_flight = Arc::new(Semaphore::new(args.concurrency * 8));
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut running = Vec::new();
            while Instant::now() < end {
                ticks.tick().await;
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    if Instant::now() >= measured_from {
                        tally.lock().await.dropped += 1;
                    }
                    continue;
                };
                let (client, args, tally, counter) =
                    (client.clone(), args.clone(), tally.clone(), counter.clone());
                running.push(tokio::spawn(async move {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    one(&client, &args, n, &tally, measured_from).await;
                    drop(permit);
                }));
            }
            for request in running {
                request.await?;
            }
        }
    }

    let measured = end.duration_since(measured_from).as_secs_f64();
    let mut tally = tally.lock().await;
    tally.latencies_us.sort_unstable();
    let requests = tally.latencies_us.len() as u64;
    let summary = json!({
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "concurrency": args.concurrency,
        "rate": args.rate,
        "batch": args.batch,
        "seconds": measured,
        "requests": requests,
        "requests_per_sec": (requests as f64 / measured).round(),
        "events_accepted_per_sec": (tally.events_accepted as f64 / measured).round(),
        "p50_ms": percentile(&tally.latencies_us, 0.50),
        "p90_ms": percentile(&tally.latencies_us, 0.90),
        "p99_ms": percentile(&tally.latencies_us, 0.99),
        "statuses": tally.statuses,
        "dropped": tally.dropped,
    });
    #[expect(clippy::print_stdout, reason = "the report is the tool's output")]
    {
        println!("{summary}");
    }
    Ok(())
}
