//! A partition's watermarks as a fetch reports them, not as a ListOffsets request (what rdkafka's
//! `fetch_watermarks` sends) answers them: not every broker answers ListOffsets(latest) with the
//! high watermark (DESIGN.md §6).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

/// librdkafka's cached low and high watermarks of a partition, as the last fetch response gave
/// them (negative before the first; kept across assignments). rdkafka 0.39 wraps only the
/// ListOffsets query, hence the one FFI call.
#[allow(unsafe_code)]
pub fn cached_watermarks<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1_i64, -1_i64);
    // SAFETY: the client handle is valid while `client` lives, `topic` outlives the call, and
    // librdkafka writes only the two out-parameters, which live on this stack frame.
    let code = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            client.native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (code == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR).then_some((low, high))
}

/// The watermarks of `partitions` of `topic` from the first fetches of a client of its own (made
/// from `config`, nothing cached), or `None` when the broker has not answered a fetch of each
/// within `timeout`. Blocks: call it from a blocking task.
pub fn fetched_watermarks(
    config: &ClientConfig,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Option<BTreeMap<i32, (i64, i64)>> {
    let consumer: BaseConsumer = config.create().ok()?;
    let mut assignment = TopicPartitionList::new();
    for &partition in partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::End)
            .ok()?;
    }
    consumer.assign(&assignment).ok()?;
    let deadline = Instant::now() + timeout;
    loop {
        let marks: BTreeMap<i32, (i64, i64)> = partitions
            .iter()
            .filter_map(|&p| cached_watermarks(consumer.client(), topic, p).map(|marks| (p, marks)))
            .filter(|&(_, (_, high))| high >= 0)
            .collect();
        if marks.len() == partitions.len() {
            return Some(marks);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Polling drives the fetches; the messages themselves are not needed.
        let _ = consumer.poll(Duration::from_millis(100));
    }
}
