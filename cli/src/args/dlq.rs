//! `lakehouse dlq ...`: the dead-letter topic.

use std::path::PathBuf;

use lakehouse_kafka::KafkaArgs;

use super::{OutputArgs, WarehouseArgs};
use crate::dlq::Selection;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum DlqCommand {
    /// List every message of the dead-letter topic: where it is, when it was dead-lettered, its
    /// origin (topic, partition, offset) and why it could not be decoded.
    List(DlqListArgs),
    /// Send dead letters (all, or a range of one partition) back to the events topic: each
    /// origin once, only those that now decode as the consumers decode them, with corrected
    /// payloads from --fixed where given. Events are deduplicated by event_id in both stores, so
    /// a replay never counts one twice.
    Replay(DlqReplayArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct DlqListArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// `--output json` prints one JSON object per line, payload included: what `replay --fixed`
    /// reads back, edited.
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DlqReplayArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Every dead letter.
    #[arg(long, conflicts_with = "partition", required_unless_present = "partition")]
    pub all: bool,
    /// Only dead letters of this partition of the dead-letter topic...
    #[arg(long)]
    pub partition: Option<i32>,
    /// ...from this offset...
    #[arg(long, requires = "partition", default_value_t = 0)]
    pub from_offset: i64,
    /// ...to this one, inclusive.
    #[arg(long, requires = "partition", default_value_t = i64::MAX)]
    pub to_offset: i64,
    /// Corrected payloads: JSON lines as `dlq list --output json` prints them, with `payload` edited.
    #[arg(long)]
    pub fixed: Option<PathBuf>,
    /// Only report what would be sent.
    #[arg(long)]
    pub dry_run: bool,
}

impl DlqReplayArgs {
    pub fn selection(&self) -> Selection {
        match self.partition {
            Some(partition) => Selection::Range {
                partition,
                from: self.from_offset,
                to: self.to_offset,
            },
            None => Selection::All,
        }
    }
}
