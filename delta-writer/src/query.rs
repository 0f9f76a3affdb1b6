//! SQL over the lake with DataFusion: the table is registered as `events`.

use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::prelude::SessionContext;

use crate::config::LakeArgs;
use crate::lake::LakeError;
use crate::time_travel::{AsOf, open_at};

/// Runs `sql` against the table (as of its loaded version), registered as `events`.
pub async fn query(table: &DeltaTable, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let context = SessionContext::new();
    table.update_datafusion_session(&context.state())?;
    let provider = table.table_provider().await?;
    context.register_table("events", Arc::clone(&provider))?;
    Ok(context.sql(sql).await?.collect().await?)
}

/// How `query` prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
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

/// Runs `sql` against the lake's events table, at the version `at` selects, and prints the
/// result.
#[expect(
    clippy::print_stdout,
    reason = "printing the result is the query command's job"
)]
pub async fn print_query(lake: &LakeArgs, at: &AsOf, sql: &str, format: OutputFormat) -> anyhow::Result<()> {
    let table = open_at(lake, at).await?;
    let batches = query(&table, sql).await?;
    print!("{}", render(&batches, format)?);
    if format == OutputFormat::Table {
        println!();
    }
    Ok(())
}
