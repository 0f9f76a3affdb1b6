//! Log lines: JSON objects with `service`, level, message and the event's structured fields, or a
//! human format for a terminal.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human lines when stderr is a terminal (a person running a command), JSON lines when it is
    /// not (a container's log, a pipe, a file).
    #[default]
    Auto,
    Json,
    Pretty,
}

impl LogFormat {
    /// [`LogFormat::Auto`] decided for this process's stderr.
    pub fn resolve(self) -> Self {
        match self {
            Self::Auto if std::io::stderr().is_terminal() => Self::Pretty,
            Self::Auto => Self::Json,
            format => format,
        }
    }
}

/// Without `RUST_LOG`: our own lines from `info`, the chattiest dependencies (the Delta kernel logs
/// every snapshot it builds) only from `warn`. The kernel's snapshot builder not at all: it logs
/// each failed build at ERROR, a lake without a table yet included ("No files in log segment"),
/// and returns the same error to deltalake, which gives it to us to handle and report.
const DEFAULT_FILTER: &str = "info,buoyant_kernel=warn,buoyant_kernel::snapshot::builder=off,\
    deltalake_core=warn,datafusion=warn,sqlx::query=warn";

/// Installs the global subscriber; levels come from `RUST_LOG`, else [`DEFAULT_FILTER`]. Calling it
/// again (several services in one test process) keeps the first subscriber.
pub fn init_logging(service: &'static str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // An error here means a subscriber is already installed, which is what we want.
    let _ = match format.resolve() {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json | LogFormat::Auto => builder.event_format(JsonLine { service }).try_init(),
    };
}

/// One JSON object per event: flat, so that log pipelines index every field.
struct JsonLine {
    service: &'static str,
}

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("service".into(), self.service.into());
        line.insert("target".into(), meta.target().into());
        event.record(&mut FieldVisitor(&mut line));
        let encoded = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{encoded}")
    }
}

struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_service_level_message_and_fields() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLine { service: "api" })
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(partition = 3, topic = "analytics.events", "sink write failed");
        });
        let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(output.trim()).unwrap();
        assert_eq!(line["service"], "api");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "sink write failed");
        assert_eq!(line["partition"], 3);
        assert_eq!(line["topic"], "analytics.events");
    }

    #[test]
    fn the_default_filter_drops_the_kernels_failed_snapshot_lines_only() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(DEFAULT_FILTER))
            .event_format(JsonLine {
                service: "lake-browser",
            })
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "buoyant_kernel::snapshot::builder", "No files in log segment");
            tracing::info!(target: "buoyant_kernel::snapshot", "building snapshot");
            tracing::error!(target: "buoyant_kernel::scan", "a scan failed");
            tracing::info!(target: "lakehouse_lake_browser", "lake browser listening");
        });
        let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let messages: Vec<String> = output
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["message"].to_string())
            .collect();
        assert_eq!(
            messages,
            ["\"a scan failed\"", "\"lake browser listening\""],
            "{output}"
        );
    }
}
