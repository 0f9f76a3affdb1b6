//! The baseline the stream-processor is measured against: a consumer as one would first write it,
//! with Kafka's auto-commit and one `INSERT` (its own transaction) per event, into the same
//! `events` table. It keeps no rollups and gives no exactly-once guarantee, so it does less work
//! per event than the processor. Stops after `--limit` events and prints its rate.

use std::time::{Duration, Instant};

use clap::Parser;
use lakehouse_event::EnrichedEvent;
use lakehouse_kafka::KafkaArgs;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

#[derive(Debug, Parser)]
#[command(about = "Naive baseline: one INSERT per event")]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long)]
    group_id: String,
    /// Stop after this many events.
    #[arg(long, default_value_t = 100_000)]
    limit: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    lakehouse_telemetry::init_logging("bench-naive", lakehouse_telemetry::LogFormat::Pretty);
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    sqlx::query(
        r#"CREATE TABLE IF NOT EXISTS events (
            event_id uuid PRIMARY KEY, project_id text NOT NULL, event_type text NOT NULL, event_name text,
            session_id text NOT NULL, user_id text, visitor_id text, "timestamp" timestamptz NOT NULL,
            received_at timestamptz NOT NULL, url text, host text, path text, referrer text, title text,
            value double precision, properties jsonb NOT NULL, browser text, os text, device_type text,
            country text, utm_source text, utm_medium text, utm_campaign text, utm_term text,
            utm_content text, schema_version smallint NOT NULL)"#,
    )
    .execute(&pool)
    .await?;
    let consumer: StreamConsumer = args
        .kafka
        .consumer_config(&args.group_id)
        .set("enable.auto.commit", "true")
        .create()?;
    consumer.subscribe(&[&args.kafka.topic])?;
    let mut started = None;
    let mut count = 0u64;
    while count < args.limit {
        let message = consumer.recv().await?;
        started.get_or_insert_with(Instant::now);
        let event: EnrichedEvent = serde_json::from_slice(message.payload().unwrap_or_default())?;
        sqlx::query(
            r#"INSERT INTO events (event_id, project_id, event_type, event_name, session_id, user_id,
                   visitor_id, "timestamp", received_at, url, host, path, referrer, title, value, properties,
                   browser, os, device_type, country, utm_source, utm_medium, utm_campaign, utm_term,
                   utm_content, schema_version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                       $21, $22, $23, $24, $25, $26)
               ON CONFLICT (event_id) DO NOTHING"#,
        )
        .bind(event.event_id)
        .bind(&event.project_id)
        .bind(&event.event_type)
        .bind(&event.event_name)
        .bind(&event.session_id)
        .bind(&event.user_id)
        .bind(&event.visitor_id)
        .bind(event.timestamp)
        .bind(event.received_at)
        .bind(&event.url)
        .bind(&event.host)
        .bind(&event.path)
        .bind(&event.referrer)
        .bind(&event.title)
        .bind(event.value)
        .bind(serde_json::Value::Object(event.properties))
        .bind(&event.browser)
        .bind(&event.os)
        .bind(&event.device_type)
        .bind(&event.country)
        .bind(&event.utm_source)
        .bind(&event.utm_medium)
        .bind(&event.utm_campaign)
        .bind(&event.utm_term)
        .bind(&event.utm_content)
        .bind(i16::try_from(event.schema_version).unwrap_or(i16::MAX))
        .execute(&pool)
        .await?;
        count += 1;
    }
    let seconds = started.map_or(Duration::ZERO, |s| s.elapsed()).as_secs_f64();
    let per_second = (count as f64 / seconds) as u64;
    tracing::info!(
        events = count,
        seconds = format!("{seconds:.1}"),
        per_second,
        "naive consumer done"
    );
    // The one line bench/warehouse reads.
    #[allow(clippy::print_stdout)]
    {
        println!("per_second={per_second}");
    }
    Ok(())
}
