//! The lake tooling subcommands: run one, print its result (JSON for the ones that change the
//! table, so that scripts and CronJobs can read it), log what it did.

use chrono::Duration;

use crate::config::{Command, WriterConfig};
use crate::maintenance::{self, Commit};
use crate::time_travel::{AsOf, open_at};

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
            let restored = maintenance::restore(table, &target, *dry_run).await?;
            tracing::info!(?restored, dry_run, "restore");
            println!("{}", serde_json::to_string_pretty(&restored)?);
            Ok(())
        }
        Command::Vacuum {
            retention_hours,
            restore_window_hours,
            dry_run,
        } => {
            let table = open_at(lake, &AsOf::default()).await?;
            let vacuumed = maintenance::vacuum(
                table,
                Duration::hours(*retention_hours),
                Duration::hours(*restore_window_hours),
                *dry_run,
            )
            .await?;
            tracing::info!(files = vacuumed.files.len(), dry_run, "vacuum");
            println!("{}", serde_json::to_string_pretty(&vacuumed)?);
            Ok(())
        }
        Command::Optimize { target_size } => {
            let table = open_at(lake, &AsOf::default()).await?;
            let optimized = maintenance::optimize(table, *target_size).await?;
            tracing::info!(?optimized, "optimize");
            println!("{}", serde_json::to_string_pretty(&optimized)?);
            Ok(())
        }
        Command::Run(_) | Command::ResetOffsets { .. } => {
            anyhow::bail!("not a tooling command")
        }
    }
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
