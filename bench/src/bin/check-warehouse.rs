//! What the benchmarks check after a run (DESIGN.md §13): `events` holds the expected number of
//! events, each once, and every derived table that was maintained equals its recomputation from
//! the raw events (`lakehouse_testkit`'s oracle), and holds rows. Exits non-zero otherwise, so a
//! fast run that stored the wrong thing is never recorded.
//!
//!   check-warehouse --database-url URL --events 1000000 [--maintained t1,t2]

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Check a benchmark's warehouse: the event count and the derived tables")]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// How many events `events` must hold.
    #[arg(long)]
    events: i64,
    /// The derived tables the run maintained, comma-separated (all when not given).
    #[arg(long, value_delimiter = ',')]
    maintained: Option<Vec<String>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    lakehouse_telemetry::init_logging("bench-check", lakehouse_telemetry::LogFormat::Pretty);
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM events")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        rows == args.events && distinct == args.events,
        "events holds {rows} rows, {distinct} distinct ids; expected {} once each",
        args.events
    );
    let maintained = |table: &str| {
        args.maintained
            .as_ref()
            .is_none_or(|tables| tables.iter().any(|t| t == table))
    };
    let mismatches = lakehouse_testkit::derived_mismatches_in(&pool, maintained).await;
    anyhow::ensure!(
        mismatches.is_empty(),
        "derived tables differ from their recomputation (table, rows): {mismatches:?}"
    );
    let empty: Vec<_> = lakehouse_testkit::empty_derived_tables(&pool)
        .await
        .into_iter()
        .filter(|table| maintained(table))
        .collect();
    anyhow::ensure!(
        empty.is_empty(),
        "maintained derived tables hold no row: {empty:?}"
    );
    tracing::info!(
        events = rows,
        "warehouse checked: every event once, the derived tables recomputed equal"
    );
    Ok(())
}
