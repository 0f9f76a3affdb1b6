//! The subcommands besides `run`: `reset-offsets` and the lake tooling. Each runs one library
//! operation and prints its result (JSON for the ones that change the table, so that scripts and
//! CronJobs can read it). The administrative ones (restore, vacuum, optimize, export-user,
//! delete-user, reset-offsets, backup) are recorded in the audit log, and the commits they make
//! carry the record in their `userMetadata`.

use lakehouse_audit::{Action, AuditLog};
use lakehouse_lake::progress::report;
use lakehouse_lake::{
    AsOf, Commit, EraseOptions, EventsWriter, OptimizeOptions, OutputFormat, QueryExecutor, RestoreOptions,
    User, VacuumOptions, WriterOptions, backup, delete_user, export_user, history, open_at, optimize, render,
    restore, vacuum, verify,
};
use lakehouse_lake_args::UserArgs;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::Command;
use crate::config::WriterConfig;

/// Forgets the group's positions on the topic (see [`Command::ResetOffsets`]); every partition of
/// the topic when `partitions` is empty. Recorded in the audit log.
pub async fn reset_offsets(config: &WriterConfig, partitions: &[i32]) -> anyhow::Result<()> {
    let audit = config.audit_log()?;
    let action = Action::new(
        config.actor.name(),
        "lake.reset_offsets",
        json!({"group": config.consumer.group_id, "topic": config.kafka.topic, "partitions": partitions}),
    );
    let outcome = async {
        let partitions = if partitions.is_empty() {
            lakehouse_kafka::partitions_of(&config.kafka.client_config(), &config.kafka.topic).await?
        } else {
            partitions.to_vec()
        };
        let mut writer =
            EventsWriter::open_or_create(&config.location(), &WriterOptions::from(config)).await?;
        writer.reset_offsets(&config.kafka.topic, &partitions).await?;
        anyhow::Ok(json!({"partitions": partitions}))
    }
    .await;
    audit.record(&action.finished(&outcome)).await?;
    outcome?;
    tracing::info!(group = %config.consumer.group_id, topic = %config.kafka.topic, partitions = ?partitions,
        "stored offsets reset: the next run reads these partitions from the beginning");
    Ok(())
}

/// The audit log's arguments for a user: the id only as its pseudonym.
fn user_arguments(user: &UserArgs) -> serde_json::Value {
    lakehouse_audit::user_arguments(&user.user_id, user.project_id.as_deref())
}

/// Records how `action` ended, prints its result as JSON, and fails when either failed (the
/// result is printed even when the record could not be stored).
async fn finish<T: serde::Serialize>(
    audit: &AuditLog,
    action: &Action,
    outcome: anyhow::Result<T>,
) -> anyhow::Result<()> {
    let recorded = audit.record(&action.finished(&outcome)).await;
    print_json(&outcome?)?;
    Ok(recorded?)
}

/// Runs a tooling subcommand (anything but `run` and `reset-offsets`).
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
pub async fn execute(config: &WriterConfig, command: &Command) -> anyhow::Result<()> {
    let lake = &config.location();
    let latest = AsOf::default();
    match command {
        Command::Query {
            sql,
            at,
            format,
            limits,
        } => {
            let table = open_at(lake, &(*at).into()).await?;
            let format = OutputFormat::from(*format);
            // Read-only: anything but a query is refused before it runs (DESIGN.md §8.3). It runs
            // on the executor's threads within its limits; a signal stops it, and the executor's
            // threads are not waited on (dropping it shuts them down in the background).
            let executor = QueryExecutor::new(limits.into())?;
            let interrupted = CancellationToken::new();
            tokio::spawn(lakehouse_telemetry::shutdown_on_signal(interrupted.clone()));
            let answer = tokio::select! {
                answer = executor.run(&table, sql, None) => answer?,
                () = interrupted.cancelled() => anyhow::bail!("interrupted: the query was stopped"),
            };
            print!("{}", render(&answer.batches, format)?);
            if format == OutputFormat::Table {
                println!();
            }
            Ok(())
        }
        Command::History { limit } => {
            let table = open_at(lake, &latest).await?;
            print!("{}", history_table(&history(&table, *limit).await?));
            Ok(())
        }
        Command::Restore { at, dry_run } => {
            anyhow::ensure!(
                at.version.is_some() || at.as_of.is_some(),
                "restore needs --version or --as-of"
            );
            let audit = config.audit_log()?;
            let action = Action::new(
                config.actor.name(),
                "lake.restore",
                json!({"version": at.version, "as_of": at.as_of, "dry_run": dry_run}),
            );
            let options = RestoreOptions {
                dry_run: *dry_run,
                user_metadata: Some(action.commit_note()),
            };
            let outcome = async {
                let target = open_at(lake, &(*at).into()).await?;
                let table = open_at(lake, &latest).await?;
                let restored = report("restore", restore(table, &target, &options)).await?;
                tracing::info!(?restored, dry_run, "restore");
                anyhow::Ok(restored)
            }
            .await;
            finish(&audit, &action, outcome).await
        }
        Command::Vacuum(args) => {
            let audit = config.audit_log()?;
            let action = Action::new(
                config.actor.name(),
                "lake.vacuum",
                json!({"retention_hours": args.retention_hours, "dry_run": args.dry_run}),
            );
            let options = VacuumOptions {
                user_metadata: Some(action.commit_note()),
                ..args.into()
            };
            let outcome = async {
                let table = open_at(lake, &latest).await?;
                let vacuumed = report("vacuum", vacuum(table, options)).await?;
                tracing::info!(files = vacuumed.files.len(), dry_run = args.dry_run, "vacuum");
                anyhow::Ok(vacuumed)
            }
            .await;
            finish(&audit, &action, outcome).await
        }
        Command::Optimize(args) => {
            let audit = config.audit_log()?;
            let action = Action::new(
                config.actor.name(),
                "lake.optimize",
                json!({"target_size": args.target_size, "zorder": args.zorder}),
            );
            let options = OptimizeOptions {
                user_metadata: Some(action.commit_note()),
                ..args.into()
            };
            let outcome = async {
                let table = open_at(lake, &latest).await?;
                let optimized = report("optimize", optimize(table, &options)).await?;
                tracing::info!(?optimized, "optimize");
                anyhow::Ok(optimized)
            }
            .await;
            finish(&audit, &action, outcome).await
        }
        Command::ExportUser { user, at, format } => {
            let audit = config.audit_log()?;
            let mut arguments = user_arguments(user);
            arguments["version"] = json!(at.version);
            arguments["as_of"] = json!(at.as_of);
            let action = Action::new(config.actor.name(), "lake.export_user", arguments);
            let outcome = async {
                let table = open_at(lake, &(*at).into()).await?;
                anyhow::Ok(report("export-user", export_user(&table, &User::from(user))).await?)
            }
            .await;
            let counted = outcome
                .as_ref()
                .map(|rows| json!({"rows": rows.iter().map(|b| b.num_rows()).sum::<usize>()}));
            let recorded = audit.record(&action.finished(&counted)).await;
            print!("{}", render(&outcome?, (*format).into())?);
            Ok(recorded?)
        }
        Command::DeleteUser(args) => {
            let audit = config.audit_log()?;
            let mut arguments = user_arguments(&args.user);
            arguments["dry_run"] = json!(args.dry_run);
            let action = Action::new(config.actor.name(), "lake.delete_user", arguments);
            let options = EraseOptions {
                user_metadata: Some(action.commit_note()),
                ..args.into()
            };
            let outcome = async {
                let mut table = open_at(lake, &latest).await?;
                let user = User::from(&args.user);
                let erased = report("delete-user", delete_user(&mut table, &user, options)).await?;
                tracing::info!(rows = erased.rows, version = ?erased.new_version, dry_run = args.dry_run, "delete-user");
                anyhow::Ok(erased)
            }
            .await;
            finish(&audit, &action, outcome).await
        }
        Command::Verify { at } => {
            let table = open_at(lake, &(*at).into()).await?;
            let verified = report("verify", verify(&table)).await?;
            print_json(&verified)?;
            let problems = verified.problems();
            for problem in &problems {
                tracing::error!(problem = %problem, "verify");
            }
            anyhow::ensure!(
                problems.is_empty(),
                "verify found {} problem(s) in version {}",
                problems.len(),
                verified.version
            );
            Ok(())
        }
        Command::Backup(args) => {
            let audit = config.audit_log()?;
            let to = args.location(lake);
            let action = Action::new(
                config.actor.name(),
                "lake.backup",
                json!({"from": lake.uri, "to": to.uri, "verify": args.verify}),
            );
            let outcome = async {
                let backed_up = report("backup", backup(lake, &to)).await?;
                let problems = if args.verify {
                    let copy = open_at(&to, &latest).await?;
                    report("verify the copy", verify(&copy)).await?.problems()
                } else {
                    Vec::new()
                };
                anyhow::ensure!(
                    problems.is_empty(),
                    "the copy at {} has {} problem(s): {problems:?}",
                    to.uri,
                    problems.len()
                );
                anyhow::Ok(backed_up)
            }
            .await;
            finish(&audit, &action, outcome).await
        }
        Command::Run(_) | Command::ResetOffsets { .. } => {
            anyhow::bail!("not a tooling command")
        }
    }
}

/// Prints a command's result as JSON, for scripts and CronJobs.
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Who made a commit, from the audit record in its `userMetadata`: `actor (action)`.
fn committed_by(commit: &Commit) -> String {
    let Some(text) = &commit.user_metadata else {
        return String::new();
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(note) if note["audit"]["actor"].is_string() => format!(
            "{} ({})",
            note["audit"]["actor"].as_str().unwrap_or_default(),
            note["audit"]["action"].as_str().unwrap_or_default()
        ),
        _ => text.clone(),
    }
}

/// The history as an aligned text table.
fn history_table(commits: &[Commit]) -> String {
    let mut out = format!(
        "{:>8}  {:<24}  {:<12}  {:<28}  metrics\n",
        "version", "timestamp", "operation", "by"
    );
    for commit in commits {
        let time = commit
            .timestamp
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let metrics = if commit.metrics.is_null() {
            String::new()
        } else {
            commit.metrics.to_string()
        };
        out.push_str(&format!(
            "{:>8}  {:<24}  {:<12}  {:<28}  {}\n",
            commit.version,
            time,
            commit.operation,
            committed_by(commit),
            metrics
        ));
    }
    out
}
