//! `lakehouse offsets reset`: forgets a sink's stored positions on the topic, in one commit (the
//! lake) or one transaction (the warehouse), recorded in the audit log.

use lakehouse_audit::{ActorArgs, AuditLog, Audited};
use lakehouse_lake::{EventsWriter, LakeLocation, WriterOptions};
use lakehouse_warehouse::Warehouse;
use serde_json::json;

use crate::args::{OffsetsCommand, Sink};

pub async fn execute(actor: &ActorArgs, command: &OffsetsCommand) -> anyhow::Result<()> {
    let OffsetsCommand::Reset {
        sink,
        group_id,
        partitions,
        kafka,
        warehouse,
        lake,
    } = command;
    let group = group_id.clone().unwrap_or_else(|| {
        match sink {
            Sink::Warehouse => lakehouse_warehouse::DEFAULT_GROUP_ID,
            Sink::Lake => lakehouse_lake::DEFAULT_GROUP_ID,
        }
        .to_string()
    });
    let store = Warehouse::connect_lazy(&warehouse.database_url, &group)?;
    let action = match sink {
        Sink::Warehouse => "warehouse.reset_offsets",
        Sink::Lake => "lake.reset_offsets",
    };
    let audited = Audited::start(
        AuditLog::new(store.pool().clone()),
        actor,
        action,
        json!({"group": group, "topic": kafka.topic, "partitions": partitions}),
    );
    let outcome = async {
        let reset = match sink {
            Sink::Warehouse => {
                let deleted = store.reset_offsets(&kafka.topic, partitions).await?;
                json!({"deleted": deleted, "partitions": partitions})
            }
            Sink::Lake => {
                // Every partition of the topic unless some are named: the lake's log keeps one
                // `txn` per partition, all replaced in one commit.
                let partitions = if partitions.is_empty() {
                    lakehouse_kafka::partitions_of(&kafka.client_config(), &kafka.topic).await?
                } else {
                    partitions.clone()
                };
                let location = LakeLocation::from(lake);
                let mut writer = EventsWriter::open_or_create(&location, &WriterOptions::new(&group)).await?;
                writer.reset_offsets(&kafka.topic, &partitions).await?;
                json!({"partitions": partitions})
            }
        };
        tracing::info!(%group, topic = %kafka.topic, ?reset,
            "stored offsets reset: the sink's next run reads these partitions from the beginning");
        anyhow::Ok(reset)
    }
    .await;
    audited.conclude(outcome).await
}
