//! The lake tooling subcommands: run one, print its result (JSON for the ones that change the
//! table, so that scripts and CronJobs can read it), log what it did.

use chrono::Duration;

use crate::config::{Command, WriterConfig};
use crate::maintenance::{self, Commit};
use crate::progress::report;
use crate::query::render;
use crate::time_travel::{AsOf, open_at};
use crate::{gdpr, verify};

/// Runs a tooling subcommand (anything but `run` and `reset-offsets`).
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
pub async fn execute(config: &WriterConfig, command: &Command) -> anyhow::Result<()> {
    let lake = &config.lake;
    match command {
        Command::Query { sql, at, format } => crate::query::print_query(lake, at, sql, *format).await,
        Command::History { limit } => {
            let table = open_at(lake, &AsOf::default()).await?;
            print!("{}", history_table(&maintenance::history(&table, *limit).await?));
            Ok(())
        }
        Command::Restore { at, dry_run } => {
            anyhow::ensure!(
                at.version.is_some() || at.as_of.is_some(),
                "restore needs --version or --as-of"
            );
            let target = open_at(lake, at).await?;
            let table = open_at(lake, &AsOf::default()).await?;
            let restored = report("restore", maintenance::restore(table, &target, *dry_run)).await?;
            tracing::info!(?restored, dry_run, "restore");
            print_json(&restored)
        }
        Command::Vacuum {
            retention_hours,
            restore_window_hours,
            dry_run,
        } => {
            let table = open_at(lake, &AsOf::default()).await?;
            let vacuumed = report(
                "vacuum",
                maintenance::vacuum(
                    table,
                    Duration::hours(*retention_hours),
                    Duration::hours(*restore_window_hours),
                    *dry_run,
                ),
            )
            .await?;
            tracing::info!(files = vacuumed.files.len(), dry_run, "vacuum");
            print_json(&vacuumed)
        }
        Command::Optimize { target_size, zorder } => {
            let table = open_at(lake, &AsOf::default()).await?;
            let optimized = report("optimize", maintenance::optimize(table, *target_size, zorder)).await?;
            tracing::info!(?optimized, "optimize");
            print_json(&optimized)
        }
        Command::ExportUser { user, at, format } => {
            let table = open_at(lake, at).await?;
            let rows = report("export-user", gdpr::export_user(&table, user)).await?;
            print!("{}", render(&rows, *format)?);
            Ok(())
        }
        Command::DeleteUser {
            user,
            restore_window_hours,
            dry_run,
        } => {
            let mut table = open_at(lake, &AsOf::default()).await?;
            let window = Duration::hours(*restore_window_hours);
            let erased = report(
                "delete-user",
                gdpr::delete_user(&mut table, user, window, *dry_run),
            )
            .await?;
            tracing::info!(rows = erased.rows, version = ?erased.new_version, dry_run, "delete-user");
            print_json(&erased)
        }
        Command::Verify { at } => {
            let table = open_at(lake, at).await?;
            let verified = report("verify", verify::verify(&table)).await?;
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
