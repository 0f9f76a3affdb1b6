//! `lakehouse warehouse ...`: rebuild from the lake (audited), reconcile with it, and grant or
//! revoke a project reader (audited).

use lakehouse_audit::{ActorArgs, AuditLog, Audited};
use lakehouse_warehouse::Warehouse;
use lakehouse_warehouse::grants::Roles;
use lakehouse_warehouse::project_readers::{self, ProjectReaderError};
use lakehouse_warehouse::timescale::Storage;
use serde_json::json;

use super::{Outcome, print};
use crate::args::{Output, ProjectReaderArgs, RebuildArgs, ReconcileArgs, WarehouseCommand};
use crate::exit::Refused;
use crate::lake_tables::LakeTables;
use crate::{metrics, output, rebuild, reconcile, warehouse};

pub async fn execute(actor: &ActorArgs, command: &WarehouseCommand) -> anyhow::Result<Outcome> {
    match command {
        WarehouseCommand::Rebuild(args) => rebuild_range(actor, args).await.map(|()| Outcome::Done),
        WarehouseCommand::Reconcile(args) => reconcile_stores(args).await,
        WarehouseCommand::GrantProject(args) => project_reader(actor, args, Change::Grant)
            .await
            .map(|()| Outcome::Done),
        WarehouseCommand::RevokeProject(args) => project_reader(actor, args, Change::Revoke)
            .await
            .map(|()| Outcome::Done),
        WarehouseCommand::Migrate { warehouse, shared } => {
            migrate(actor, &warehouse.database_url, &shared.into())
                .await
                .map(|()| Outcome::Done)
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Grant,
    Revoke,
}

/// `grant-project` and `revoke-project`: the change in one transaction, its result printed and
/// recorded; a name, a role or a warehouse it will not make a project reader of is a refusal
/// (exit status 2).
async fn project_reader(actor: &ActorArgs, args: &ProjectReaderArgs, change: Change) -> anyhow::Result<()> {
    let pool = warehouse::connect(&args.warehouse.database_url).await?;
    let action = match change {
        Change::Grant => "warehouse.grant_project",
        Change::Revoke => "warehouse.revoke_project",
    };
    let audited = Audited::start(
        AuditLog::new(pool.clone()),
        actor,
        action,
        json!({"project_id": args.project_id, "role": args.role}),
    );
    let outcome = async {
        let roles = Roles::from(&args.shared);
        let mut connection = pool.acquire().await?;
        let changed = match change {
            Change::Grant => {
                project_readers::grant_project(&mut connection, &roles, &args.role, &args.project_id).await
            }
            Change::Revoke => {
                project_readers::revoke_project(&mut connection, &roles, &args.role, &args.project_id).await
            }
        };
        changed.map_err(|error: ProjectReaderError| {
            if error.is_refusal() {
                anyhow::Error::new(Refused(error.to_string()))
            } else {
                anyhow::Error::new(error)
            }
        })
    }
    .await;
    audited.conclude(outcome).await
}

/// `reconcile`: the report printed, its metrics written; drift past the threshold is a refusal
/// (exit status 2), not an error.
async fn reconcile_stores(args: &ReconcileArgs) -> anyhow::Result<Outcome> {
    let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
    let range = args.hours.resolve(chrono::Utc::now())?;
    let lake = LakeTables::choose(
        &(&args.stores.lake).into(),
        args.table.table.as_ref(),
        args.at.into(),
    )
    .await?;
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

/// `migrate`: the migrations, grants and row security, then its record (the audit log is one of
/// the tables the migrations make).
async fn migrate(actor: &ActorArgs, database_url: &str, roles: &Roles) -> anyhow::Result<()> {
    let store = Warehouse::connect_lazy(database_url, lakehouse_warehouse::DEFAULT_GROUP_ID)?;
    let migrated = store.migrate(roles).await;
    let audited = Audited::start(
        AuditLog::new(store.pool().clone()),
        actor,
        "warehouse.migrate",
        json!({}),
    );
    let outcome = migrated
        .map(|storage| json!({"migrated": true, "timescaledb": matches!(storage, Storage::Timescale { .. })}))
        .map_err(anyhow::Error::from);
    audited.conclude(outcome).await
}

async fn rebuild_range(actor: &ActorArgs, args: &RebuildArgs) -> anyhow::Result<()> {
    let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
    let audited = Audited::start(
        AuditLog::new(pool.clone()),
        actor,
        "warehouse.rebuild",
        json!({"range": args.range.to_string(), "table": args.table.table, "version": args.at.version,
               "as_of": args.at.as_of, "dry_run": args.dry_run}),
    );
    let outcome = async {
        let lake = LakeTables::choose(
            &(&args.stores.lake).into(),
            args.table.table.as_ref(),
            args.at.into(),
        )
        .await?;
        let rebuilt = rebuild::rebuild(&pool, &lake, &args.range, args.dry_run).await?;
        tracing::info!(?rebuilt, "rebuild");
        anyhow::Ok(rebuilt)
    }
    .await;
    audited.conclude(outcome).await
}
