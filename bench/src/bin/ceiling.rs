//! The warehouse's ceiling (DESIGN.md §13): the reference events loaded with binary `COPY` into a
//! migrated database's `events` table (its primary key and indexes, no derived tables), in one
//! transaction, with the stream-processor's own encoding. What the raw table can absorb on this
//! PostgreSQL; the processor and the rebuild are measured against it. Events are generated
//! beforehand, a chunk at a time; only the `COPY`s and the commit are timed.

use std::time::{Duration, Instant};

use clap::Parser;
use lakehouse_testkit::reference_event;
use lakehouse_warehouse::{EventRow, copy_events};

#[derive(Debug, Parser)]
#[command(about = "Binary COPY of the reference events into events: the ceiling")]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// The workload's seed, as `fill` used it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Events generated, then copied, at a time.
    #[arg(long, default_value_t = 100_000)]
    chunk: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    lakehouse_telemetry::init_logging("bench-ceiling", lakehouse_telemetry::LogFormat::Pretty);
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    let mut tx = pool.begin().await?;
    let mut copying = Duration::ZERO;
    let mut copied = 0;
    let mut first = 0;
    while first < args.events {
        let last = (first + args.chunk).min(args.events);
        let events: Vec<_> = (first..last)
            .map(|index| (reference_event(args.seed, index), index as i64))
            .collect();
        let rows: Vec<EventRow<'_>> = events
            .iter()
            .map(|(event, offset)| EventRow {
                event,
                partition: 0,
                offset: *offset,
            })
            .collect();
        let started = Instant::now();
        copied += copy_events(&mut tx, &rows).await?;
        copying += started.elapsed();
        first = last;
    }
    let started = Instant::now();
    tx.commit().await?;
    copying += started.elapsed();
    let seconds = copying.as_secs_f64();
    let per_second = (copied as f64 / seconds) as u64;
    tracing::info!(
        events = copied,
        seconds = format!("{seconds:.1}"),
        per_second,
        "ceiling: copied"
    );
    // The one line bench/warehouse reads.
    #[expect(clippy::print_stdout, reason = "the rate is the tool's output")]
    {
        println!("per_second={per_second}");
    }
    Ok(())
}
