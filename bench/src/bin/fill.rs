//! Fills a topic with the reference workload: `--events` enriched events of about 500 bytes,
//! keyed as the api keys them, produced as the api produces them (acks=all, idempotent, lz4).

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use lakehouse_kafka::{KafkaArgs, ensure_topic};
use lakehouse_testkit::reference_event;
use rdkafka::producer::{FutureProducer, FutureRecord};

#[derive(Debug, Parser)]
#[command(about = "Fills a topic with the reference workload")]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// How many events.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Names the workload: the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Partitions of the topic, if it has to be created.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Spreads the events evenly over this many projects (`p000`, `p001`, …) instead of the
    /// workload's two, for the lake's one-table-per-project benchmark.
    #[arg(long)]
    projects: Option<u64>,
}

/// Deliveries awaited at once.
const IN_FLIGHT: usize = 20_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    lakehouse_telemetry::init_logging("bench-fill", lakehouse_telemetry::LogFormat::Pretty);
    ensure_topic(&args.kafka.client_config(), &args.kafka.topic, args.partitions, 1).await?;
    let producer: FutureProducer = args
        .kafka
        .producer_config(Duration::from_secs(60))
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "200000")
        .create()?;
    let started = Instant::now();
    let mut bytes = 0usize;
    let payloads = (0..args.events).map(|index| {
        let mut event = reference_event(args.seed, index);
        if let Some(projects) = args.projects.filter(|&n| n > 0) {
            event.project_id = format!("p{:03}", index % projects);
        }
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        bytes += payload.len();
        (event.kafka_key(), payload)
    });
    let topic = &args.kafka.topic;
    let producer = &producer;
    let mut deliveries = futures::stream::iter(payloads)
        .map(|(key, payload)| async move {
            let record = FutureRecord::to(topic).key(&key).payload(&payload);
            producer.send(record, Duration::from_secs(60)).await
        })
        .buffer_unordered(IN_FLIGHT);
    let mut delivered = 0u64;
    while let Some(result) = deliveries.next().await {
        result.map_err(|(error, _)| error)?;
        delivered += 1;
    }
    drop(deliveries);
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        events = delivered,
        mean_bytes = bytes as u64 / delivered.max(1),
        seconds = format!("{seconds:.1}"),
        per_second = (delivered as f64 / seconds) as u64,
        topic = %args.kafka.topic,
        "topic filled"
    );
    Ok(())
}
