//! The delta-writer service: the shared consume loop writing into the events table until shutdown.

use std::time::Duration;

use lakehouse_kafka::run_sink;
use lakehouse_lake::{EventsWriter, RoutedWriter, WriterOptions};
use tokio_util::sync::CancellationToken;

use crate::config::WriterConfig;
use crate::sink::LakeSink;
use crate::table_metrics;

/// Opens (or creates) the table, then consumes until `shutdown` is cancelled. A store that is
/// unreachable at start-up is waited for, with backoff and a log line.
pub async fn run(config: WriterConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    let location = config.location();
    // A LAKE_URI that cannot be a table location is fatal; an unreachable store is retried.
    location.events_url()?;
    let options = WriterOptions::from(&config);
    let service = config.sink_service()?;
    let routing = config.lake_tables.clone();
    let open = || async {
        let crash = config.crash_at.clone();
        if routing.is_single() {
            let writer = EventsWriter::open_or_create(&location, &options).await?;
            Ok(LakeSink::One(Box::new(match crash {
                Some(crash) => writer.with_hook(move |stage| crash.check(stage)),
                None => writer,
            })))
        } else {
            let writer = RoutedWriter::open(&location, routing.clone(), &options).await?;
            Ok(LakeSink::Routed(Box::new(match crash {
                Some(crash) => writer.with_hook(move |stage| crash.check(stage)),
                None => writer,
            })))
        }
    };
    let reporter = tokio::spawn(table_metrics::report_every(
        location.clone(),
        routing.clone(),
        Duration::from_millis(config.lake_stats_interval_ms),
        shutdown.child_token(),
    ));
    let result = run_sink(service, open, shutdown).await;
    reporter.abort();
    Ok(result?)
}
