//! The `lakehouse` binary: parse, start logging and progress, run the command, exit 0, 1 or 2
//! (see [`lakehouse_cli::exit`]).

use std::process::ExitCode;

use clap::Parser;
use lakehouse_cli::{Cli, Outcome, exit};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    lakehouse_telemetry::init_logging("lakehouse", cli.global.log_format);
    lakehouse_progress::init(cli.global.quiet);
    match lakehouse_cli::execute(&cli).await {
        Ok(Outcome::Done) => ExitCode::from(exit::DONE),
        Ok(Outcome::Refused) => ExitCode::from(exit::REFUSED),
        Err(error) => {
            tracing::error!("{error:#}");
            exit::status_of(&error)
        }
    }
}
