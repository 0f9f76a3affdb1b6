//! SQL over the lake with DataFusion: the table is registered as `events`.

use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::prelude::SessionContext;

use crate::config::LakeArgs;
use crate::lake::{EVENTS_TABLE, LakeError, open_table, table_url};

/// Runs `sql` against the table (as of its loaded version), registered as `events`.
pub async fn query(table: &DeltaTable, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let context = SessionContext::new();
    table.update_datafusion_session(&context.state())?;
    let provider = table.table_provider().await?;
    context.register_table("events", Arc::clone(&provider))?;
    Ok(context.sql(sql).await?.collect().await?)
}

/// Runs `sql` against the lake's events table and prints the result as a text table.
#[expect(
    clippy::print_stdout,
    reason = "printing the result is the query command's job"
)]
pub async fn print_query(lake: &LakeArgs, sql: &str) -> anyhow::Result<()> {
    let table = open_table(table_url(&lake.lake_uri, EVENTS_TABLE)?, lake).await?;
    anyhow::ensure!(
        table.version().is_some(),
        "there is no events table at {} yet",
        lake.lake_uri
    );
    let batches = query(&table, sql).await?;
    println!("{}", pretty_format_batches(&batches)?);
    Ok(())
}
