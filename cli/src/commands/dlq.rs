//! `lakehouse dlq ...`: list the dead letters, replay them (audited).

use std::time::Duration;

use lakehouse_audit::{ActorArgs, AuditLog, Audited};
use serde_json::json;

use super::print;
use crate::args::{DlqCommand, DlqListArgs, DlqReplayArgs};
use crate::error::SyncError;
use crate::{dlq, output, warehouse};

pub async fn execute(actor: &ActorArgs, command: &DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List(args) => list(args).await,
        DlqCommand::Replay(args) => replay(actor, args).await,
    }
}

async fn list(args: &DlqListArgs) -> anyhow::Result<()> {
    let letters = dlq::read(&args.kafka.client_config(), &args.kafka.dlq_topic).await?;
    print(&output::render(&letters, args.output.output)?);
    Ok(())
}

async fn replay(actor: &ActorArgs, args: &DlqReplayArgs) -> anyhow::Result<()> {
    let pool = warehouse::connect(&args.warehouse.database_url).await?;
    let audited = Audited::start(
        AuditLog::new(pool),
        actor,
        "dlq.replay",
        json!({"dlq_topic": args.kafka.dlq_topic, "topic": args.kafka.topic,
               "selection": args.selection(), "fixed": args.fixed, "dry_run": args.dry_run}),
    );
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
        anyhow::Ok(replayed)
    }
    .await;
    audited.conclude(outcome).await
}
