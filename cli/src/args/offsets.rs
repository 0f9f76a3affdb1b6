//! `lakehouse offsets ...`: the positions on the topic each sink stores with its data.

use lakehouse_kafka::KafkaArgs;
use lakehouse_lake_args::LakeArgs;

use super::WarehouseArgs;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum OffsetsCommand {
    /// Forget a sink's stored positions on the topic (all its partitions, or those given), so
    /// that its next run reads them from the beginning of the log. For a topic that was
    /// recreated; events already stored are not stored again (both sinks deduplicate by
    /// `event_id`). Stop the sink first.
    Reset {
        /// Whose positions: the stream-processor's (`warehouse`) or the lake writer's (`lake`).
        #[arg(long, value_enum)]
        sink: Sink,
        /// The sink's consumer group (default: the sink's own default group).
        #[arg(long, env = "KAFKA_GROUP_ID")]
        group_id: Option<String>,
        /// Only these partitions (repeatable).
        #[arg(long = "partition")]
        partitions: Vec<i32>,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        warehouse: WarehouseArgs,
        #[command(flatten)]
        lake: LakeArgs,
    },
}

/// One of the two sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sink {
    /// The stream-processor: its offsets are rows of the warehouse.
    Warehouse,
    /// The delta-writer: its offsets are `txn` actions of the lake's log.
    Lake,
}
