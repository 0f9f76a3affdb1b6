//! SQL over the events table with DataFusion, the table registered as `events`, and the result
//! rendered as text.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::datafusion::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::execution::runtime_env::RuntimeEnv;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use uuid::Uuid;

use crate::error::LakeError;
use crate::table::decode::parse_event_id;

/// A DataFusion session with the table (as of its loaded version) registered as `events`, for
/// several queries.
pub async fn session(table: &DeltaTable) -> Result<SessionContext, LakeError> {
    register(table, SessionContext::new()).await
}

/// [`session`] whose queries take their memory pool and spill files from `runtime`.
pub(crate) async fn session_in(
    table: &DeltaTable,
    runtime: Arc<RuntimeEnv>,
) -> Result<SessionContext, LakeError> {
    register(
        table,
        SessionContext::new_with_config_rt(SessionConfig::new(), runtime),
    )
    .await
}

async fn register(table: &DeltaTable, context: SessionContext) -> Result<SessionContext, LakeError> {
    table.update_datafusion_session(&context.state())?;
    let provider = table.table_provider().await?;
    context.register_table("events", Arc::clone(&provider))?;
    Ok(context)
}

/// Runs `sql` against the table (as of its loaded version), registered as `events`.
pub async fn query(table: &DeltaTable, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    Ok(session(table).await?.sql(sql).await?.collect().await?)
}

/// How many times each `event_id` is in the table's loaded version.
pub async fn event_id_counts(table: &DeltaTable) -> Result<HashMap<Uuid, i64>, LakeError> {
    let batches = query(
        table,
        "SELECT CAST(event_id AS VARCHAR), count(*) FROM events GROUP BY event_id",
    )
    .await?;
    let mut counts = HashMap::new();
    for batch in batches {
        // DataFusion reads Parquet strings as views; cast to plain strings.
        let ids = cast(batch.column(0), &DataType::Utf8)?;
        let n = batch.column(1).as_primitive::<Int64Type>();
        for (row, id) in ids.as_string::<i32>().iter().enumerate() {
            counts.insert(parse_event_id(id)?, n.value(row));
        }
    }
    Ok(counts)
}

/// How a query's result is rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row, one row per line.
    Json,
}

/// Renders query results in `format`.
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String, LakeError> {
    match format {
        OutputFormat::Table => Ok(pretty_format_batches(batches)?.to_string()),
        OutputFormat::Csv => {
            let mut writer = deltalake::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for batch in batches {
                writer.write(batch)?;
            }
            Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned())
        }
        OutputFormat::Json => {
            let mut writer = deltalake::arrow::json::LineDelimitedWriter::new(Vec::new());
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned())
        }
    }
}
