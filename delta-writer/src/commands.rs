//! The subcommands besides `run`: `reset-offsets` and the lake tooling. Each runs one library
//! operation and prints its result (JSON for the ones that change the table, so that scripts and
//! CronJobs can read it).

use lakehouse_lake::progress::report;
use lakehouse_lake::{
    AsOf, Commit, EventsWriter, OutputFormat, QueryLimits, User, WriterOptions, delete_user, export_user,
    history, open_at, optimize, read_only_query, render, restore, vacuum, verify,
};

use crate::cli::Command;
use crate::config::WriterConfig;

/// Forgets the group's positions on the topic (see [`Command::ResetOffsets`]); every partition of
/// the topic when `partitions` is empty.
pub async fn reset_offsets(config: &WriterConfig, partitions: &[i32]) -> anyhow::Result<()> {
    let partitions = if partitions.is_empty() {
        lakehouse_kafka::partitions_of(&config.kafka.client_config(), &config.kafka.topic).await?
    } else {
        partitions.to_vec()
    };
    let mut writer = EventsWriter::open_or_create(&config.location(), &WriterOptions::from(config)).await?;
    writer.reset_offsets(&config.kafka.topic, &partitions).await?;
    tracing::info!(group = %config.group_id, topic = %config.kafka.topic, partitions = ?partitions,
        "stored offsets reset: the next run reads these partitions from the beginning");
    Ok(())
}

/// Runs a tooling subcommand (anything but `run` and `reset-offsets`).
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
pub async fn execute(config: &WriterConfig, command: &Command) -> anyhow::Result<()> {
    let lake = &config.location();
    let latest = AsOf::default();
    match command {
        Command::Query { sql, at, format } => {
            let table = open_at(lake, &(*at).into()).await?;
            let format = OutputFormat::from(*format);
            // Read-only: anything but a query is refused before it runs (DESIGN.md §8.3).
            let answer = read_only_query(&table, sql, QueryLimits::default()).await?;
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
            let target = open_at(lake, &(*at).into()).await?;
            let table = open_at(lake, &latest).await?;
            let restored = report("restore", restore(table, &target, *dry_run)).await?;
            tracing::info!(?restored, dry_run, "restore");
            print_json(&restored)
        }
        Command::Vacuum(args) => {
            let table = open_at(lake, &latest).await?;
            let vacuumed = report("vacuum", vacuum(table, args.into())).await?;
            tracing::info!(files = vacuumed.files.len(), dry_run = args.dry_run, "vacuum");
            print_json(&vacuumed)
        }
        Command::Optimize(args) => {
            let table = open_at(lake, &latest).await?;
            let optimized = report("optimize", optimize(table, &args.into())).await?;
            tracing::info!(?optimized, "optimize");
            print_json(&optimized)
        }
        Command::ExportUser { user, at, format } => {
            let table = open_at(lake, &(*at).into()).await?;
            let rows = report("export-user", export_user(&table, &User::from(user))).await?;
            print!("{}", render(&rows, (*format).into())?);
            Ok(())
        }
        Command::DeleteUser(args) => {
            let mut table = open_at(lake, &latest).await?;
            let user = User::from(&args.user);
            let erased = report("delete-user", delete_user(&mut table, &user, args.into())).await?;
            tracing::info!(rows = erased.rows, version = ?erased.new_version, dry_run = args.dry_run, "delete-user");
            print_json(&erased)
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

/// The history as an aligned text table.
fn history_table(commits: &[Commit]) -> String {
    let mut out = format!(
        "{:>8}  {:<24}  {:<12}  metrics\n",
        "version", "timestamp", "operation"
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
            "{:>8}  {:<24}  {:<12}  {}\n",
            commit.version, time, commit.operation, metrics
        ));
    }
    out
}
