//! Runs a `lakehouse` command: opens the stores it names, does the work, prints the result on
//! stdout (progress and logs go to stderr) and says how the process should exit. Each group has
//! its module; the administrative commands run as [`lakehouse_audit::Audited`] commands.

mod audit;
mod dlq;
mod docs;
mod keys;
mod lake;
mod offsets;
mod user;
mod warehouse;

use lakehouse_audit::AuditLog;
use lakehouse_telemetry::SecretUrl;

use crate::args::{Cli, Group};

/// How the process ends when the command itself worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Done,
    /// What was checked is not as it should be (reconcile's drift past the threshold): exit
    /// status 2, like a refusal, so that a CronJob tells it from a command that failed (1).
    Refused,
}

/// Runs the command `cli` names.
pub async fn execute(cli: &Cli) -> anyhow::Result<Outcome> {
    let actor = &cli.global.actor;
    match &cli.command {
        Group::Keys(command) => keys::execute(actor, command).await?,
        Group::Lake(command) => lake::execute(actor, command).await?,
        Group::Warehouse(command) => return warehouse::execute(actor, command).await,
        Group::User(command) => user::execute(actor, command).await?,
        Group::Dlq(command) => dlq::execute(actor, command).await?,
        Group::Audit(args) => audit::list(args).await?,
        Group::Offsets(command) => offsets::execute(actor, command).await?,
        Group::Completions { shell } => docs::completions(*shell),
        Group::ManPages { out } => docs::man_pages(out)?,
    }
    Ok(Outcome::Done)
}

/// Where a lake command's audit record goes: the warehouse's `audit_log` when `DATABASE_URL` is
/// given, the log line (and the commit's `userMetadata`) only when not.
fn audit_log(database_url: Option<&SecretUrl>) -> anyhow::Result<AuditLog> {
    match database_url {
        Some(url) => Ok(AuditLog::new(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy(url.expose())
                .map_err(|error| anyhow::anyhow!("DATABASE_URL: {error}"))?,
        )),
        None => {
            tracing::warn!("DATABASE_URL is not set: the audit record goes to the log and the commit only");
            Ok(AuditLog::log_only())
        }
    }
}

/// Prints what a reading command found, ending with a newline.
#[expect(clippy::print_stdout, reason = "printing the result is the command's job")]
fn print(text: &str) {
    print!("{text}");
    if !text.is_empty() && !text.ends_with('\n') {
        println!();
    }
}
