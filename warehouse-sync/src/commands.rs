//! Runs a subcommand: opens the stores, does the work, prints the result on stdout (progress and
//! logs go to stderr) and says how the process should exit. The administrative ones (`rebuild`,
//! `erase-user`, `export-user`, `dlq replay`) are recorded in the audit log.

use std::time::Duration;

use lakehouse_audit::{ActorArgs, AuditLog, Audited, user_arguments};
use lakehouse_lake::{EraseOptions, User};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::config::{
    Command, DlqCommand, DlqListArgs, DlqReplayArgs, EraseUserArgs, ExportUserArgs, Format, RebuildArgs,
    ReconcileArgs, SyncConfig,
};
use crate::erase::UserExport;
use crate::error::{Result, SyncError};
use crate::lake::LakeSource;
use crate::{dlq, erase, metrics, rebuild, reconcile, warehouse};

/// How the process ends when the command itself worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Success,
    /// Reconcile found drift past the threshold: exit status 2 (1 is an error).
    Drift,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Drift => 2,
        }
    }
}

/// Runs the configured subcommand.
pub async fn execute(config: &SyncConfig) -> Result<Outcome> {
    let ran = match &config.command {
        Command::Reconcile(args) => return reconcile_stores(args).await,
        Command::Rebuild(args) => rebuild_range(&config.actor, args).await,
        Command::EraseUser(args) => erase(&config.actor, args).await,
        Command::ExportUser(args) => export(&config.actor, args).await,
        Command::Dlq(DlqCommand::List(args)) => list_dead_letters(args).await,
        Command::Dlq(DlqCommand::Replay(args)) => replay(&config.actor, args).await,
    };
    ran.map(|()| Outcome::Success)
}

/// An administrative command on the warehouse at `url`, recorded in its `audit_log`.
async fn audited(url: &str, actor: &ActorArgs, action: &str, arguments: Value) -> Result<(PgPool, Audited)> {
    let pool = warehouse::connect(url).await?;
    let audited = Audited::start(AuditLog::new(pool.clone()), actor, action, arguments);
    Ok((pool, audited))
}

/// `reconcile`: the report printed, its metrics written; drift past the threshold is an outcome,
/// not an error.
#[expect(clippy::print_stdout, reason = "printing the report is the command's job")]
async fn reconcile_stores(args: &ReconcileArgs) -> Result<Outcome> {
    let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
    let range = args.hours.resolve(chrono::Utc::now())?;
    let lake = LakeSource::open(&(&args.stores.lake).into(), &args.at.into()).await?;
    let report = reconcile::reconcile(&pool, &lake, &range, args.threshold).await?;
    match args.format {
        Format::Table => print!("{}", report.table(args.all)),
        Format::Json => println!("{}", serde_json::to_string(&report)?),
    }
    if let Some(path) = &args.metrics_file {
        metrics::write(path, &report, chrono::Utc::now())?;
    }
    metrics::log_summary(&report);
    Ok(if report.passed() {
        Outcome::Success
    } else {
        Outcome::Drift
    })
}

async fn rebuild_range(actor: &ActorArgs, args: &RebuildArgs) -> Result<()> {
    let (pool, audited) = audited(
        &args.stores.warehouse.database_url,
        actor,
        "warehouse.rebuild",
        json!({"range": args.range.to_string(), "version": args.at.version,
               "as_of": args.at.as_of, "dry_run": args.dry_run}),
    )
    .await?;
    let outcome = async {
        let lake = LakeSource::open(&(&args.stores.lake).into(), &args.at.into()).await?;
        let rebuilt = rebuild::rebuild(&pool, &lake, &args.range, args.dry_run).await?;
        tracing::info!(?rebuilt, "rebuild");
        Ok::<_, SyncError>(rebuilt)
    }
    .await;
    audited.conclude(outcome).await
}

/// `erase-user`: both stores; the lake's commit carries the audit record.
async fn erase(actor: &ActorArgs, args: &EraseUserArgs) -> Result<()> {
    let user = &args.erase.user;
    let mut arguments = user_arguments(&user.user_id, user.project_id.as_deref());
    arguments["dry_run"] = json!(args.erase.dry_run);
    let (pool, audited) = audited(
        &args.stores.warehouse.database_url,
        actor,
        "gdpr.erase_user",
        arguments,
    )
    .await?;
    let options = EraseOptions {
        user_metadata: Some(audited.commit_note()),
        ..(&args.erase).into()
    };
    let outcome = erase::erase_user(&pool, &(&args.stores.lake).into(), &User::from(user), options).await;
    if let Ok(erased) = &outcome {
        tracing::info!(?erased, "erase-user");
    }
    audited.conclude(outcome).await
}

/// `export-user`: the rows of both stores printed; the audit log keeps how many, never the rows.
async fn export(actor: &ActorArgs, args: &ExportUserArgs) -> Result<()> {
    let user = &args.user;
    let arguments = user_arguments(&user.user_id, user.project_id.as_deref());
    let (pool, audited) = audited(
        &args.stores.warehouse.database_url,
        actor,
        "gdpr.export_user",
        arguments,
    )
    .await?;
    let outcome = erase::export_user(&pool, &(&args.stores.lake).into(), &User::from(user)).await;
    let counted = |export: &UserExport| json!({"warehouse_rows": export.warehouse.len(), "lake_rows": export.lake.len()});
    let shown = |export: &UserExport| Ok::<_, SyncError>(serde_json::to_string_pretty(export)?);
    audited.conclude_as(outcome, counted, shown).await
}

/// `dlq list`: a table, or JSON lines.
#[expect(clippy::print_stdout, reason = "printing the list is the command's job")]
async fn list_dead_letters(args: &DlqListArgs) -> Result<()> {
    let letters = dlq::read(&args.kafka.client_config(), &args.kafka.dlq_topic).await?;
    if args.json {
        for letter in &letters {
            println!("{}", serde_json::to_string(letter)?);
        }
    } else {
        print!("{}", dlq::table(&letters));
    }
    Ok(())
}

async fn replay(actor: &ActorArgs, args: &DlqReplayArgs) -> Result<()> {
    let (_, audited) = audited(
        &args.warehouse.database_url,
        actor,
        "dlq.replay",
        json!({"dlq_topic": args.kafka.dlq_topic, "topic": args.kafka.topic,
               "selection": args.selection(), "fixed": args.fixed, "dry_run": args.dry_run}),
    )
    .await?;
    let outcome = async {
        let fixed = match &args.fixed {
            Some(path) => {
                dlq::fixed_payloads(&std::fs::read_to_string(path).map_err(|source| SyncError::Io {
                    path: path.display().to_string(),
                    source,
                })?)?
            }
            None => Default::default(),
        };
        let letters = dlq::read(&args.kafka.client_config(), &args.kafka.dlq_topic).await?;
        let producer = args
            .kafka
            .producer_config(Duration::from_secs(30))
            .create()
            .map_err(|error| SyncError::Kafka(error.to_string()))?;
        let replayed = dlq::replay(
            &producer,
            &args.kafka.topic,
            &letters,
            args.selection(),
            &fixed,
            args.dry_run,
        )
        .await?;
        for (partition, offset, reason) in &replayed.still_invalid {
            tracing::warn!(partition, offset, reason = %reason, "dead letter still invalid: not replayed");
        }
        Ok::<_, SyncError>(replayed)
    }
    .await;
    audited.conclude(outcome).await
}
