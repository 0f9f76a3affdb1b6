//! `lakehouse warehouse ...`: rebuild from the lake (audited) and reconcile with it.

use lakehouse_audit::{ActorArgs, AuditLog, Audited};
use serde_json::json;

use super::{Outcome, print};
use crate::args::{Output, RebuildArgs, ReconcileArgs, WarehouseCommand};
use crate::lake::LakeSource;
use crate::{metrics, output, rebuild, reconcile, warehouse};

pub async fn execute(actor: &ActorArgs, command: &WarehouseCommand) -> anyhow::Result<Outcome> {
    match command {
        WarehouseCommand::Rebuild(args) => rebuild_range(actor, args).await.map(|()| Outcome::Done),
        WarehouseCommand::Reconcile(args) => reconcile_stores(args).await,
    }
}

/// `reconcile`: the report printed, its metrics written; drift past the threshold is a refusal
/// (exit status 2), not an error.
async fn reconcile_stores(args: &ReconcileArgs) -> anyhow::Result<Outcome> {
    let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
    let range = args.hours.resolve(chrono::Utc::now())?;
    let lake = LakeSource::open(&(&args.stores.lake).into(), &args.at.into()).await?;
    let report = reconcile::reconcile(&pool, &lake, &range, args.threshold).await?;
    match args.output.output {
        Output::Table => print(&report.table(args.all)),
        // The report as one object: its summary with its rows.
        Output::Json => print(&serde_json::to_string(&report)?),
        Output::Csv => print(&output::render(&report.rows, Output::Csv)?),
    }
    if let Some(path) = &args.metrics_file {
        metrics::write(path, &report, chrono::Utc::now())?;
    }
    metrics::log_summary(&report);
    Ok(if report.passed() {
        Outcome::Done
    } else {
        Outcome::Refused
    })
}

async fn rebuild_range(actor: &ActorArgs, args: &RebuildArgs) -> anyhow::Result<()> {
    let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
    let audited = Audited::start(
        AuditLog::new(pool.clone()),
        actor,
        "warehouse.rebuild",
        json!({"range": args.range.to_string(), "version": args.at.version,
               "as_of": args.at.as_of, "dry_run": args.dry_run}),
    );
    let outcome = async {
        let lake = LakeSource::open(&(&args.stores.lake).into(), &args.at.into()).await?;
        let rebuilt = rebuild::rebuild(&pool, &lake, &args.range, args.dry_run).await?;
        tracing::info!(?rebuilt, "rebuild");
        anyhow::Ok(rebuilt)
    }
    .await;
    audited.conclude(outcome).await
}
