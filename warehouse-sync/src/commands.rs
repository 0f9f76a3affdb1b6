//! Runs a subcommand: opens the stores, does the work, prints the result on stdout (progress and
//! logs go to stderr) and says how the process should exit.

use crate::config::{Command, Format, SyncConfig};
use crate::error::Result;
use crate::lake::LakeSource;
use crate::{metrics, rebuild, reconcile, warehouse};

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
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
pub async fn execute(config: &SyncConfig) -> Result<Outcome> {
    let stores = config.command.stores();
    let pool = warehouse::connect(&stores.database_url).await?;
    match &config.command {
        Command::Reconcile(args) => {
            let range = args.hours.resolve(chrono::Utc::now())?;
            let lake = LakeSource::open(&(&stores.lake).into(), &args.at.into()).await?;
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
            let lake = LakeSource::open(&(&stores.lake).into(), &args.at.into()).await?;
            let rebuilt = rebuild::rebuild(&pool, &lake, &args.range, args.dry_run).await?;
            tracing::info!(?rebuilt, "rebuild");
            println!("{}", serde_json::to_string(&rebuilt).unwrap_or_default());
            Ok(Outcome::Success)
        }
    }
}
