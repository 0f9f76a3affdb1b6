//! Runs a subcommand: opens the stores, does the work, prints the result on stdout (progress and
//! logs go to stderr) and says how the process should exit. The administrative ones (`rebuild`,
//! `erase-user`, `export-user`, `dlq replay`) are recorded in the audit log.

use std::time::Duration;

use lakehouse_audit::{Action, AuditLog};
use lakehouse_lake::{EraseOptions, User};
use lakehouse_lake_args::UserArgs;
use serde_json::json;

use crate::config::{Command, DlqCommand, Format, SyncConfig};
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

/// The audit log's arguments for a user: the id only as its pseudonym.
fn user_arguments(user: &UserArgs) -> serde_json::Value {
    lakehouse_audit::user_arguments(&user.user_id, user.project_id.as_deref())
}

/// Records how `action` ended, prints `outcome`'s result as JSON, and fails when either failed
/// (the result is printed even when its record could not be stored).
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
async fn finish<T: serde::Serialize>(
    audit: &AuditLog,
    action: &Action,
    outcome: Result<T>,
) -> Result<Outcome> {
    let recorded = audit.record(&action.finished(&outcome)).await;
    println!("{}", serde_json::to_string(&outcome?).unwrap_or_default());
    recorded?;
    Ok(Outcome::Success)
}

/// Runs the configured subcommand.
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
pub async fn execute(config: &SyncConfig) -> Result<Outcome> {
    match &config.command {
        Command::Reconcile(args) => {
            let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
            let range = args.hours.resolve(chrono::Utc::now())?;
            let lake = LakeSource::open(&(&args.stores.lake).into(), &args.at.into()).await?;
            let report = reconcile::reconcile(&pool, &lake, &range, args.threshold).await?;
            match args.format {
                Format::Table => print!("{}", report.table(args.all)),
                Format::Json => println!("{}", serde_json::to_string(&report).unwrap_or_default()),
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
        Command::Rebuild(args) => {
            let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
            let action = Action::new(
                config.actor(),
                "warehouse.rebuild",
                json!({"range": args.range.to_string(), "version": args.at.version,
                       "as_of": args.at.as_of, "dry_run": args.dry_run}),
            );
            let outcome = async {
                let lake = LakeSource::open(&(&args.stores.lake).into(), &args.at.into()).await?;
                let rebuilt = rebuild::rebuild(&pool, &lake, &args.range, args.dry_run).await?;
                tracing::info!(?rebuilt, "rebuild");
                Ok::<_, SyncError>(rebuilt)
            }
            .await;
            finish(&AuditLog::new(pool.clone()), &action, outcome).await
        }
        Command::EraseUser(args) => {
            let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
            let mut arguments = user_arguments(&args.erase.user);
            arguments["dry_run"] = json!(args.erase.dry_run);
            let action = Action::new(config.actor(), "gdpr.erase_user", arguments);
            let options = EraseOptions {
                user_metadata: Some(action.commit_note()),
                ..(&args.erase).into()
            };
            let outcome = erase::erase_user(
                &pool,
                &(&args.stores.lake).into(),
                &User::from(&args.erase.user),
                options,
            )
            .await;
            if let Ok(erased) = &outcome {
                tracing::info!(?erased, "erase-user");
            }
            finish(&AuditLog::new(pool.clone()), &action, outcome).await
        }
        Command::ExportUser(args) => {
            let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
            let action = Action::new(config.actor(), "gdpr.export_user", user_arguments(&args.user));
            let outcome =
                erase::export_user(&pool, &(&args.stores.lake).into(), &User::from(&args.user)).await;
            let counted = outcome.as_ref().map(
                |export| json!({"warehouse_rows": export.warehouse.len(), "lake_rows": export.lake.len()}),
            );
            let recorded = AuditLog::new(pool.clone())
                .record(&action.finished(&counted))
                .await;
            println!("{}", serde_json::to_string_pretty(&outcome?).unwrap_or_default());
            recorded?;
            Ok(Outcome::Success)
        }
        Command::Dlq(DlqCommand::List(args)) => {
            let letters = dlq::read(&args.kafka.client_config(), &args.kafka.dlq_topic).await?;
            if args.json {
                for letter in &letters {
                    println!("{}", serde_json::to_string(letter).unwrap_or_default());
                }
            } else {
                print!("{}", dlq::table(&letters));
            }
            Ok(Outcome::Success)
        }
        Command::Dlq(DlqCommand::Replay(args)) => {
            let pool = warehouse::connect(&args.warehouse.database_url).await?;
            let action = Action::new(
                config.actor(),
                "dlq.replay",
                json!({"dlq_topic": args.kafka.dlq_topic, "topic": args.kafka.topic,
                       "selection": args.selection(), "fixed": args.fixed, "dry_run": args.dry_run}),
            );
            let outcome = async {
                let fixed = match &args.fixed {
                    Some(path) => dlq::fixed_payloads(&std::fs::read_to_string(path).map_err(|source| {
                        SyncError::Io {
                            path: path.display().to_string(),
                            source,
                        }
                    })?)?,
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
            finish(&AuditLog::new(pool.clone()), &action, outcome).await
        }
    }
}
