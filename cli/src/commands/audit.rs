//! `lakehouse audit`: the audit log, newest first.

use super::print;
use crate::args::AuditArgs;
use crate::{output, warehouse};

pub async fn list(args: &AuditArgs) -> anyhow::Result<()> {
    let pool = warehouse::connect(&args.warehouse.database_url).await?;
    let records = lakehouse_audit::list(&pool, &args.into()).await?;
    print(&output::render(&records, args.output.output)?);
    Ok(())
}
