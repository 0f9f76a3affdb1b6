//! How many messages a topic holds, from the high watermarks a fetch reports. Not a ListOffsets
//! request (what rdkafka's `fetch_watermarks` sends): tansu 0.6 answers ListOffsets(latest) with
//! the last batch's base offset + 1, which undercounts a topic written in batches.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::{Stack, unique};

/// The high watermark of each partition of `topic` (by partition id), as the first fetch of each
/// partition reports it; panics when the broker has not answered a fetch of every partition
/// within `timeout`.
pub async fn high_watermarks(stack: &Stack, topic: &str, timeout: Duration) -> Vec<(i32, i64)> {
    let partitions = lakehouse_kafka::partitions_of(&stack.kafka_config(), topic)
        .await
        .unwrap_or_else(|e| panic!("cannot list the partitions of {topic}: {e}"));
    let consumer: BaseConsumer = stack
        .kafka_config()
        .set("group.id", unique("watermarks"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka consumer");
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("a partition offset");
    }
    consumer.assign(&assignment).expect("assign the partitions");
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + timeout;
        loop {
            let highs: Vec<(i32, i64)> = partitions
                .iter()
                .map(|&partition| (partition, cached_high_watermark(&consumer, &topic, partition)))
                .collect();
            if highs.iter().all(|&(_, high)| high >= 0) {
                return highs;
            }
            assert!(
                Instant::now() < deadline,
                "no fetch of every partition of {topic} answered within {timeout:?}: {highs:?}"
            );
            // Polling drives the fetches; the messages themselves are not needed.
            let _ = consumer.poll(Duration::from_millis(100));
        }
    })
    .await
    .expect("the watermark task")
}

/// The sum of [`high_watermarks`]: how many messages `topic` holds (none of ours are deleted).
pub async fn message_count(stack: &Stack, topic: &str, timeout: Duration) -> i64 {
    high_watermarks(stack, topic, timeout)
        .await
        .iter()
        .map(|(_, high)| high)
        .sum()
}

/// librdkafka's cached high watermark of a partition from the last fetch response, or -1 before
/// the first. rdkafka 0.39 wraps only the ListOffsets query, hence the one FFI call.
#[allow(unsafe_code)]
fn cached_high_watermark(consumer: &BaseConsumer, topic: &str, partition: i32) -> i64 {
    let Ok(topic) = std::ffi::CString::new(topic) else {
        return -1;
    };
    let (mut low, mut high) = (-1_i64, -1_i64);
    // SAFETY: the client handle is valid while `consumer` lives, `topic` outlives the call, and
    // librdkafka writes only the two out-parameters, which live on this stack frame.
    let code = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    if code == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        high
    } else {
        -1
    }
}
