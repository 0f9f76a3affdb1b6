//! The lake's consume ceiling (DESIGN.md §13): a bare rdkafka consumer that joins a fresh group,
//! as the delta-writer does, with the same consumer settings, and reads every partition of a
//! topic to its end as of start, touching each payload and doing nothing else. `bench/lake`
//! measures it beside the writer, in the same run, and reports the writer's rate as a ratio of it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use lakehouse_kafka::{KafkaArgs, fetched_watermarks, partitions_of};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

#[derive(Debug, Parser)]
#[command(about = "Drains a topic with a bare consumer: the lake's consume ceiling")]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The consumer group (fresh for each run, so that it reads from the start).
    #[arg(long)]
    group_id: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    lakehouse_telemetry::init_logging("bench-bare-consumer", lakehouse_telemetry::LogFormat::Pretty);
    let started = Instant::now();
    let topic = &args.kafka.topic;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let partitions = runtime.block_on(partitions_of(&args.kafka.client_config(), topic))?;
    let config = args.kafka.consumer_config(&args.group_id);
    let ends = fetched_watermarks(&config, topic, &partitions, Duration::from_secs(30))
        .ok_or_else(|| anyhow::anyhow!("the broker did not report the end of every partition"))?;
    let mut left: BTreeMap<i32, i64> = ends
        .into_iter()
        .filter(|&(_, (low, high))| high > low)
        .map(|(partition, (_, high))| (partition, high))
        .collect();
    let consumer: BaseConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    let (mut messages, mut bytes) = (0u64, 0u64);
    while !left.is_empty() {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message?;
        messages += 1;
        bytes += message.payload().map_or(0, |payload| payload.len() as u64);
        if left
            .get(&message.partition())
            .is_some_and(|&end| message.offset() + 1 >= end)
        {
            left.remove(&message.partition());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_second = (messages as f64 / seconds) as u64;
    tracing::info!(
        messages,
        bytes,
        seconds = format!("{seconds:.1}"),
        per_second,
        "drained"
    );
    // The one line bench/lake reads.
    #[expect(clippy::print_stdout, reason = "the rate is the tool's output")]
    {
        println!("per_second={per_second}");
    }
    Ok(())
}
