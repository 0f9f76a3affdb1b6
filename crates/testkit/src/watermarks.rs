//! How many messages a topic holds, from the high watermarks a fetch reports (see
//! `lakehouse_kafka::fetched_watermarks`).

use std::time::Duration;

use crate::{Stack, unique};

/// The high watermark of each partition of `topic` (by partition id), as the first fetch of each
/// partition reports it; panics when the broker has not answered a fetch of every partition
/// within `timeout`.
pub async fn high_watermarks(stack: &Stack, topic: &str, timeout: Duration) -> Vec<(i32, i64)> {
    let partitions = lakehouse_kafka::partitions_of(&stack.kafka_config(), topic)
        .await
        .unwrap_or_else(|e| panic!("cannot list the partitions of {topic}: {e}"));
    let mut config = stack.kafka_config();
    config
        .set("group.id", unique("watermarks"))
        .set("enable.auto.commit", "false");
    let name = topic.to_string();
    let marks = tokio::task::spawn_blocking(move || {
        lakehouse_kafka::fetched_watermarks(&config, &name, &partitions, timeout)
    })
    .await
    .expect("the watermark task")
    .unwrap_or_else(|| panic!("no fetch of every partition of {topic} answered within {timeout:?}"));
    marks
        .into_iter()
        .map(|(partition, (_, high))| (partition, high))
        .collect()
}

/// The sum of [`high_watermarks`]: how many messages `topic` holds (none of ours are deleted).
pub async fn message_count(stack: &Stack, topic: &str, timeout: Duration) -> i64 {
    high_watermarks(stack, topic, timeout)
        .await
        .iter()
        .map(|(_, high)| high)
        .sum()
}
