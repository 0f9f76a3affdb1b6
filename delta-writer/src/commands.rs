//! The subcommands besides `run`: `reset-offsets` and the lake tooling. Each runs one library
//! operation and prints its result (JSON for the ones that change the table, so that scripts and
//! CronJobs can read it). The administrative ones (restore, vacuum, optimize, export-user,
//! delete-user, reset-offsets, backup) are recorded in the audit log, and the commits they make
//! carry the record in their `userMetadata`.

use deltalake::arrow::array::RecordBatch;
use lakehouse_audit::user_arguments;
use lakehouse_lake::{
    AsOf, Commit, EraseOptions, EventsWriter, LakeError, LakeLocation, OptimizeOptions, OutputFormat,
    QueryExecutor, QueryOptions, QueryRefused, RestoreOptions, User, VacuumOptions, WriterOptions, backup,
    delete_user, export_user, history, open_at, optimize, render, restore, vacuum, verify,
};
use lakehouse_lake_args::{AsOfArgs, UserArgs};
use lakehouse_progress::report;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::{BackupArgs, Command, DeleteUserArgs, OptimizeArgs, VacuumArgs};
use crate::config::WriterConfig;

/// Forgets the group's positions on the topic (see [`Command::ResetOffsets`]); every partition of
/// the topic when `partitions` is empty. Recorded in the audit log; prints the partitions reset.
pub async fn reset_offsets(config: &WriterConfig, partitions: &[i32]) -> anyhow::Result<()> {
    let audited = config.audited(
        "lake.reset_offsets",
        json!({"group": config.consumer.group_id, "topic": config.kafka.topic, "partitions": partitions}),
    )?;
    let outcome = async {
        let partitions = if partitions.is_empty() {
            lakehouse_kafka::partitions_of(&config.kafka.client_config(), &config.kafka.topic).await?
        } else {
            partitions.to_vec()
        };
        let mut writer =
            EventsWriter::open_or_create(&config.location(), &WriterOptions::from(config)).await?;
        writer.reset_offsets(&config.kafka.topic, &partitions).await?;
        tracing::info!(group = %config.consumer.group_id, topic = %config.kafka.topic, partitions = ?partitions,
            "stored offsets reset: the next run reads these partitions from the beginning");
        anyhow::Ok(json!({"partitions": partitions}))
    }
    .await;
    audited.conclude(outcome).await
}

/// Runs a tooling subcommand (anything but `run` and `reset-offsets`): reads are printed, and the
/// administrative ones run as a [`lakehouse_audit::Audited`] command.
pub async fn execute(config: &WriterConfig, command: &Command) -> anyhow::Result<()> {
    let lake = &config.location();
    match command {
        Command::Query {
            sql,
            at,
            format,
            limits,
        } => query(lake, sql, &(*at).into(), (*format).into(), limits.into()).await,
        Command::History { limit } => {
            let table = open_at(lake, &AsOf::default()).await?;
            print(&history_table(&history(&table, *limit).await?));
            Ok(())
        }
        Command::Restore { at, dry_run } => restore_to(config, at, *dry_run).await,
        Command::Vacuum(args) => vacuum_files(config, args).await,
        Command::Optimize(args) => compact(config, args).await,
        Command::ExportUser { user, at, format } => export(config, user, at, (*format).into()).await,
        Command::DeleteUser(args) => erase(config, args).await,
        Command::Verify { at } => check(lake, &(*at).into()).await,
        Command::Backup(args) => back_up(config, args).await,
        Command::Run(_) | Command::ResetOffsets { .. } => {
            anyhow::bail!("not a tooling command")
        }
    }
}

/// `query`: read-only, anything but a query is refused before it runs (DESIGN.md §8.3). It runs
/// on the executor's threads within its limits; a signal stops it, and the executor's threads are
/// not waited on (dropping it shuts them down in the background).
async fn query(
    lake: &LakeLocation,
    sql: &str,
    at: &AsOf,
    format: OutputFormat,
    limits: QueryOptions,
) -> anyhow::Result<()> {
    let table = open_at(lake, at).await?;
    let executor = QueryExecutor::new(limits)?;
    let interrupted = CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(interrupted.clone()));
    let answer = tokio::select! {
        answer = executor.run(&table, sql, None) => answer.map_err(with_hint)?,
        () = interrupted.cancelled() => anyhow::bail!("interrupted: the query was stopped"),
    };
    let mut text = render(&answer.batches, format)?;
    if format == OutputFormat::Table {
        text.push('\n');
    }
    print(&text);
    Ok(())
}

/// A query stopped at a limit, with the flag that raises the limit.
fn with_hint(error: LakeError) -> anyhow::Error {
    let hint = match error.operation::<QueryRefused>() {
        Some(QueryRefused::Timeout(_)) => "give it longer with --timeout-secs",
        Some(QueryRefused::MemoryLimit(_)) => "give it more with --memory-limit-mib",
        _ => return error.into(),
    };
    anyhow::anyhow!("{error}; {hint}")
}

async fn restore_to(config: &WriterConfig, at: &AsOfArgs, dry_run: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        at.version.is_some() || at.as_of.is_some(),
        "restore needs --version or --as-of"
    );
    let audited = config.audited(
        "lake.restore",
        json!({"version": at.version, "as_of": at.as_of, "dry_run": dry_run}),
    )?;
    let options = RestoreOptions {
        dry_run,
        user_metadata: Some(audited.commit_note()),
    };
    let lake = &config.location();
    let outcome = async {
        let target = open_at(lake, &(*at).into()).await?;
        let table = open_at(lake, &AsOf::default()).await?;
        let restored = report("restore", restore(table, &target, &options)).await?;
        tracing::info!(?restored, dry_run, "restore");
        anyhow::Ok(restored)
    }
    .await;
    audited.conclude(outcome).await
}

async fn vacuum_files(config: &WriterConfig, args: &VacuumArgs) -> anyhow::Result<()> {
    let audited = config.audited(
        "lake.vacuum",
        json!({"retention_hours": args.retention_hours, "dry_run": args.dry_run}),
    )?;
    let options = VacuumOptions {
        user_metadata: Some(audited.commit_note()),
        ..args.into()
    };
    let outcome = async {
        let table = open_at(&config.location(), &AsOf::default()).await?;
        let vacuumed = report("vacuum", vacuum(table, &options)).await?;
        tracing::info!(files = vacuumed.files.len(), dry_run = args.dry_run, "vacuum");
        anyhow::Ok(vacuumed)
    }
    .await;
    audited.conclude(outcome).await
}

async fn compact(config: &WriterConfig, args: &OptimizeArgs) -> anyhow::Result<()> {
    let audited = config.audited(
        "lake.optimize",
        json!({"target_size": args.target_size, "zorder": args.zorder}),
    )?;
    let options = OptimizeOptions {
        user_metadata: Some(audited.commit_note()),
        ..args.into()
    };
    let outcome = async {
        let table = open_at(&config.location(), &AsOf::default()).await?;
        let optimized = report("optimize", optimize(table, &options)).await?;
        tracing::info!(?optimized, "optimize");
        anyhow::Ok(optimized)
    }
    .await;
    audited.conclude(outcome).await
}

/// `export-user`: the rows are printed; the audit log keeps how many, never the rows.
async fn export(
    config: &WriterConfig,
    user: &UserArgs,
    at: &AsOfArgs,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let mut arguments = user_arguments(&user.user_id, user.project_id.as_deref());
    arguments["version"] = json!(at.version);
    arguments["as_of"] = json!(at.as_of);
    let audited = config.audited("lake.export_user", arguments)?;
    let outcome = async {
        let table = open_at(&config.location(), &(*at).into()).await?;
        anyhow::Ok(report("export-user", export_user(&table, &User::from(user))).await?)
    }
    .await;
    let rows = |batches: &Vec<RecordBatch>| json!({"rows": batches.iter().map(RecordBatch::num_rows).sum::<usize>()});
    let shown = |batches: &Vec<RecordBatch>| anyhow::Ok(render(batches, format)?);
    audited.conclude_as(outcome, rows, shown).await
}

async fn erase(config: &WriterConfig, args: &DeleteUserArgs) -> anyhow::Result<()> {
    let mut arguments = user_arguments(&args.user.user_id, args.user.project_id.as_deref());
    arguments["dry_run"] = json!(args.dry_run);
    let audited = config.audited("lake.delete_user", arguments)?;
    let options = EraseOptions {
        user_metadata: Some(audited.commit_note()),
        ..args.into()
    };
    let outcome = async {
        let table = open_at(&config.location(), &AsOf::default()).await?;
        let user = User::from(&args.user);
        let erased = report("delete-user", delete_user(table, &user, &options)).await?;
        tracing::info!(rows = erased.rows, version = ?erased.new_version, dry_run = args.dry_run, "delete-user");
        anyhow::Ok(erased)
    }
    .await;
    audited.conclude(outcome).await
}

/// `verify`: prints what it found, and fails when it found a problem.
async fn check(lake: &LakeLocation, at: &AsOf) -> anyhow::Result<()> {
    let table = open_at(lake, at).await?;
    let verified = report("verify", verify(&table)).await?;
    print(&serde_json::to_string_pretty(&verified)?);
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

/// `backup`: the copy, then with `--verify` the copy checked as `verify` does.
async fn back_up(config: &WriterConfig, args: &BackupArgs) -> anyhow::Result<()> {
    let lake = &config.location();
    let to = args.location(lake);
    let audited = config.audited(
        "lake.backup",
        json!({"from": lake.uri, "to": to.uri, "verify": args.verify}),
    )?;
    let outcome = async {
        let backed_up = report("backup", backup(lake, &to)).await?;
        let problems = if args.verify {
            let copy = open_at(&to, &AsOf::default()).await?;
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
    audited.conclude(outcome).await
}

/// Prints what a reading command found.
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
fn print(text: &str) {
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
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
